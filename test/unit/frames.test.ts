// Data-plane frames: round trips of every type, any split of the input gives the same events,
// CHUNK bodies stream as uncopied views, and hostile bytes only ever yield ProtocolError.
import test from 'ava';
import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { ProtocolError } from '../../src/errors.js';
import {
  AuthMode,
  CHUNK_HEADER_BYTES,
  encodeAuth,
  encodeAuthOk,
  encodeCancel,
  encodeChunkHeader,
  encodeError,
  encodeGetChunk,
  encodeGetManifest,
  encodeHello,
  encodeManifestFrame,
  FrameParser,
  FrameType,
  MAX_ERROR_MESSAGE_BYTES,
  MAX_MANIFEST_BYTES,
  type FrameEvent,
  type FrameParserOptions,
} from '../../src/protocol/frames.js';
import { encodeManifest, MAX_CHUNK_SIZE } from '../../src/store/manifest.js';

const FILE_ID = 'ab'.repeat(32);
const chunkBody = randomBytes(10_000);
const manifestBytes = encodeManifest({ size: 5, chunkSize: 4, hashes: [randomBytes(32), randomBytes(32)] });

/** One frame of every type, and the events they must produce (chunk data merged). */
const stream = Buffer.concat([
  encodeGetChunk(1, FILE_ID, 7),
  encodeChunkHeader(2, 7, chunkBody.length),
  chunkBody,
  encodeGetManifest(3, FILE_ID),
  encodeManifestFrame(4, manifestBytes),
  encodeError(5, 'NOT_FOUND', 'no such file ✓'),
  encodeCancel(6),
  encodeChunkHeader(7, 0, 0),
]);
const expected: FrameEvent[] = [
  { type: 'get-chunk', reqId: 1, fileId: FILE_ID, index: 7 },
  { type: 'chunk-start', reqId: 2, index: 7, length: chunkBody.length },
  { type: 'chunk-data', reqId: 2, data: chunkBody },
  { type: 'chunk-end', reqId: 2 },
  { type: 'get-manifest', reqId: 3, fileId: FILE_ID },
  { type: 'manifest', reqId: 4, manifest: manifestBytes },
  { type: 'error', reqId: 5, code: 'NOT_FOUND', message: 'no such file ✓' },
  { type: 'cancel', reqId: 6 },
  { type: 'chunk-start', reqId: 7, index: 0, length: 0 },
  { type: 'chunk-end', reqId: 7 },
];

/** Parse `pieces` in order, copying what is kept; consecutive chunk-data events are merged so splits compare equal. */
function parse(pieces: Buffer[], options?: FrameParserOptions): FrameEvent[] {
  const parser = new FrameParser(options);
  const out: FrameEvent[] = [];
  for (const piece of pieces) {
    parser.push(piece, (e) => {
      const last = out[out.length - 1];
      if (e.type === 'chunk-data' && last?.type === 'chunk-data') last.data = Buffer.concat([last.data, e.data]);
      else if (e.type === 'chunk-data') out.push({ ...e, data: Buffer.from(e.data) });
      else if (e.type === 'manifest') out.push({ ...e, manifest: Buffer.from(e.manifest) });
      else out.push(e);
    });
  }
  return out;
}

function splitAt(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const pieces: Buffer[] = [];
  let prev = 0;
  for (const p of points) {
    pieces.push(buf.subarray(prev, p));
    prev = p;
  }
  pieces.push(buf.subarray(prev));
  return pieces;
}

test('every frame type round trips in one piece', (t) => {
  t.deepEqual(parse([stream]), expected);
});

test('byte-by-byte input gives the same events', (t) => {
  const pieces: Buffer[] = [];
  for (let i = 0; i < stream.length; i++) pieces.push(stream.subarray(i, i + 1));
  t.deepEqual(parse(pieces), expected);
});

test('random splits give the same events', (t) => {
  fc.assert(
    fc.property(fc.array(fc.nat(), { maxLength: 40 }), (cuts) => {
      t.deepEqual(parse(splitAt(stream, cuts)), expected);
    }),
    { numRuns: 200 },
  );
});

test('a CHUNK body split over many inputs streams as views of those inputs', (t) => {
  const body = randomBytes(300_000);
  const wire = Buffer.concat([encodeChunkHeader(9, 3, body.length), body]);
  const pieces = splitAt(wire, [5, 11, 13, 100, 65_536, 65_537, 200_000, 250_000]);
  const parser = new FrameParser({ maxChunkBytes: body.length });
  const slices: Buffer[] = [];
  const kinds: string[] = [];
  for (const piece of pieces) {
    parser.push(piece, (e) => {
      kinds.push(e.type);
      if (e.type === 'chunk-data') {
        t.is(e.data.buffer, piece.buffer, 'slice is a view of the input, not a copy');
        t.true(e.data.byteOffset >= piece.byteOffset && e.data.byteOffset + e.data.length <= piece.byteOffset + piece.length);
        slices.push(e.data);
      }
    });
  }
  t.is(kinds[0], 'chunk-start');
  t.is(kinds[kinds.length - 1], 'chunk-end');
  t.true(slices.length > 1);
  t.true(Buffer.concat(slices).equals(body));
});

test('a chunk header is 13 bytes and carries length = data + 9', (t) => {
  const header = encodeChunkHeader(1, 2, 1000);
  t.is(header.length, CHUNK_HEADER_BYTES);
  t.is(header.readUInt32BE(0), 1009);
  t.is(header[4], FrameType.Chunk);
});

test('a 4 GiB length prefix is refused from the 5-byte header, before any allocation', (t) => {
  for (const type of [FrameType.Chunk, FrameType.Manifest, FrameType.Error, FrameType.GetChunk]) {
    const parser = new FrameParser();
    const head = Buffer.from([0xff, 0xff, 0xff, 0xff, type]);
    t.throws(() => parser.push(head, () => t.fail('no event expected')), { instanceOf: ProtocolError });
  }
});

test('length limits: chunk over maxChunkBytes, manifest over 16 MiB, wrong fixed sizes', (t) => {
  const refuse = (bytes: Buffer, options?: FrameParserOptions) =>
    t.throws(() => new FrameParser(options).push(bytes, () => undefined), { instanceOf: ProtocolError });
  refuse(encodeChunkHeader(1, 0, 1025), { maxChunkBytes: 1024 });
  t.notThrows(() => new FrameParser({ maxChunkBytes: 1024 }).push(encodeChunkHeader(1, 0, 1024), () => undefined));
  const maxChunk = Buffer.alloc(5);
  maxChunk.writeUInt32BE(MAX_CHUNK_SIZE + 10, 0);
  maxChunk[4] = FrameType.Chunk;
  refuse(maxChunk, { maxChunkBytes: 2 * MAX_CHUNK_SIZE });
  const bigManifest = Buffer.alloc(5);
  bigManifest.writeUInt32BE(MAX_MANIFEST_BYTES + 6, 0);
  bigManifest[4] = FrameType.Manifest;
  refuse(bigManifest);
  const shortGet = encodeGetChunk(1, FILE_ID, 0);
  shortGet.writeUInt32BE(40, 0);
  refuse(shortGet);
});

test('unknown types, unaccepted types and bad error frames are ProtocolError, and the parser stays failed', (t) => {
  const parser = new FrameParser();
  t.throws(() => parser.push(Buffer.from([0, 0, 0, 5, 99, 0, 0, 0, 1]), () => undefined), { instanceOf: ProtocolError });
  t.throws(() => parser.push(encodeCancel(1), () => undefined), { instanceOf: ProtocolError });
  const server = new FrameParser({ accept: [FrameType.GetChunk, FrameType.GetManifest, FrameType.Cancel] });
  t.throws(() => server.push(encodeChunkHeader(1, 0, 10), () => undefined), { instanceOf: ProtocolError });
  const badCode = encodeError(1, 'NOT_FOUND', 'x');
  badCode.write('not-found', 11, 'latin1');
  t.throws(() => new FrameParser().push(badCode, () => undefined), { instanceOf: ProtocolError });
  const longCode = encodeError(1, 'BUSY', 'x');
  longCode.writeUInt16BE(500, 9);
  t.throws(() => new FrameParser().push(longCode, () => undefined), { instanceOf: ProtocolError });
});

test('error messages are cut to 1024 bytes on a character boundary', (t) => {
  const frame = encodeError(1, 'IO_ERROR', '€'.repeat(1000));
  const [event] = parse([frame]);
  t.is(event?.type, 'error');
  if (event?.type !== 'error') return;
  t.true(Buffer.byteLength(event.message) <= MAX_ERROR_MESSAGE_BYTES);
  t.false(event.message.includes('\ufffd'));
});

test('fuzz: garbage never throws anything but ProtocolError', (t) => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 8 }), fc.boolean(), (pieces, validPrefix) => {
      const parser = new FrameParser({ maxChunkBytes: 4096 });
      const inputs: Buffer[] = pieces.map((p) => Buffer.from(p));
      if (validPrefix) inputs.unshift(encodeGetChunk(1, FILE_ID, 2));
      try {
        for (const input of inputs) parser.push(input, () => undefined);
      } catch (err) {
        if (!(err instanceof ProtocolError)) throw err;
      }
    }),
    { numRuns: 2000 },
  );
  // frames with a valid header and a random body, of every type
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 11 }), fc.uint8Array({ maxLength: 200 }), (type, body) => {
      const head = Buffer.alloc(5);
      head.writeUInt32BE(body.length + 1, 0);
      head[4] = type;
      try {
        new FrameParser().push(Buffer.concat([head, body]), () => undefined);
      } catch (err) {
        if (!(err instanceof ProtocolError)) throw err;
      }
    }),
    { numRuns: 2000 },
  );
  t.pass();
});

test('handshake frames: HELLO, AUTH and AUTH_OK round trip with fixed lengths', (t) => {
  const nonce = randomBytes(32);
  const mac = randomBytes(32);
  const wire = Buffer.concat([encodeHello(AuthMode.SwarmKey, nonce), encodeHello(AuthMode.Open), encodeAuth(nonce, mac), encodeAuthOk(mac)]);
  t.deepEqual(parse([wire]), [
    { type: 'hello', version: 1, mode: AuthMode.SwarmKey, nonce },
    { type: 'hello', version: 1, mode: AuthMode.Open, nonce: Buffer.alloc(32) },
    { type: 'auth', nonce, mac },
    { type: 'auth-ok', mac },
  ]);
  t.deepEqual([encodeHello(AuthMode.Open).length, encodeAuth(nonce, mac).length, encodeAuthOk(mac).length], [4 + 35, 4 + 65, 4 + 33]);
  t.throws(() => encodeAuth(nonce.subarray(1), mac));
  t.throws(() => encodeAuthOk(Buffer.alloc(31)));
});

test('handshake frames: any other length, version or mode is ProtocolError from the header or body', (t) => {
  const refuse = (bytes: Buffer) => t.throws(() => new FrameParser().push(bytes, () => undefined), { instanceOf: ProtocolError });
  for (const frame of [encodeHello(AuthMode.Open), encodeAuth(randomBytes(32), randomBytes(32)), encodeAuthOk(randomBytes(32))]) {
    const longer = Buffer.from(frame);
    longer.writeUInt32BE(frame.readUInt32BE(0) + 1, 0);
    refuse(longer);
  }
  const badVersion = encodeHello(AuthMode.Open);
  badVersion[5] = 2;
  refuse(badVersion);
  const badMode = encodeHello(AuthMode.Open);
  badMode[6] = 7;
  refuse(badMode);
  // a server does not take HELLO, a client does not take AUTH
  t.throws(() => new FrameParser({ accept: [FrameType.Auth, FrameType.GetChunk] }).push(encodeHello(AuthMode.Open), () => undefined), { instanceOf: ProtocolError });
  t.throws(() => new FrameParser({ accept: [FrameType.Hello, FrameType.Chunk] }).push(encodeAuth(randomBytes(32), randomBytes(32)), () => undefined), {
    instanceOf: ProtocolError,
  });
});

test('midFrame tells a frame begun from a frame boundary', (t) => {
  const parser = new FrameParser();
  const frame = encodeGetChunk(1, FILE_ID, 2);
  t.false(parser.midFrame);
  parser.push(frame.subarray(0, 3), () => undefined);
  t.true(parser.midFrame, 'inside the length prefix');
  parser.push(frame.subarray(3, 20), () => undefined);
  t.true(parser.midFrame, 'inside the body');
  parser.push(frame.subarray(20), () => undefined);
  t.false(parser.midFrame);
  parser.push(encodeChunkHeader(3, 0, 10).subarray(0, 7), () => undefined);
  t.true(parser.midFrame, 'inside a chunk header');
});
