// The NATS codec: round trips, and hostile input (garbage, wrong version, oversize, deep
// nesting, extension types, prototype keys, fuzz) only ever yields ProtocolError or
// UnsupportedVersionError.
import test from 'ava';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { decode, decodeRaw, encode, errorReply, MAX_DEPTH, MAX_MESSAGE_BYTES } from '../../src/protocol/codec.js';
import {
  AnnounceRequest,
  ErrorReply,
  HeartbeatReply,
  ListReply,
  LookupReply,
  LookupRequest,
  PROTOCOL_VERSION,
  TrackerHello,
} from '../../src/protocol/messages.js';
import { NotFoundError, ProtocolError, UnsupportedVersionError } from '../../src/errors.js';

const FILE_ID = 'ab'.repeat(32);
const meta = { fileId: FILE_ID, name: 'song.mp3', size: 3_000_000, chunkSize: 1 << 20, chunkCount: 3 };
const announce = {
  v: PROTOCOL_VERSION,
  peerId: 'alice',
  endpoint: { host: '127.0.0.1', port: 4000 },
  replace: true,
  files: [meta],
  removed: ['cd'.repeat(32)],
};
// a packer that, unlike ours, happily writes extension types and does not care about depth
const lax = new Packr({ useRecords: false });

/** A msgpack map built by hand, so every key reaches the wire exactly as written. */
function packMap(entries: Array<[string, unknown]>): Buffer {
  const parts = entries.flatMap(([key, value]) => {
    const k = Buffer.from(key);
    return [Buffer.from([0xa0 | k.length]), k, lax.pack(value)];
  });
  return Buffer.concat([Buffer.from([0x80 | entries.length]), ...parts]);
}

test('round trips keep every field', (t) => {
  const cases: Array<[unknown, { parse(v: unknown): unknown }]> = [
    [announce, AnnounceRequest],
    [{ v: 1, ok: true, known: false }, HeartbeatReply],
    [{ v: 1, fileId: FILE_ID }, LookupRequest],
    [{ v: 1, name: 'song.mp3' }, LookupRequest],
    [{ v: 1, ok: true, matches: [{ file: meta, sources: [{ peerId: 'bob', endpoint: { host: '::1', port: 1 } }] }] }, LookupReply],
    [{ v: 1, ok: true, total: 1, files: [{ ...meta, sources: 2 }], peers: 2 }, ListReply],
    [{ v: 1, trackerId: 't1', startedAt: 1_700_000_000_000 }, TrackerHello],
  ];
  for (const [message, schema] of cases) {
    t.deepEqual(decode(schema as never, encode(message)), message);
  }
});

test('defaults are filled and unknown fields stripped', (t) => {
  const { removed: _removed, ...withoutRemoved } = announce;
  const decoded = decode(AnnounceRequest, encode({ ...withoutRemoved, extra: 'from a newer peer' }));
  t.deepEqual(decoded.removed, []);
  t.false('extra' in decoded);
});

test('errorReply carries the code and decodes as ErrorReply', (t) => {
  const reply = decode(ErrorReply, encode(errorReply(new NotFoundError('no such file'))));
  t.deepEqual(reply, { v: 1, ok: false, code: 'NOT_FOUND', message: 'no such file' });
  t.is(errorReply(new Error('boom')).code, 'INTERNAL');
});

test('garbage bytes are a ProtocolError', (t) => {
  for (const bytes of [
    new Uint8Array(0),
    Uint8Array.from([0xc1]),
    Uint8Array.from([0x92, 0x01]), // array of 2 with one item
    Uint8Array.from([0x01, 0x02]), // trailing bytes
    Buffer.from('{"v":1,"peerId":"alice"}'),
  ]) {
    t.throws(() => decode(AnnounceRequest, bytes), { instanceOf: ProtocolError });
  }
});

test('schema violations are a ProtocolError naming the field', (t) => {
  const err = t.throws(() => decode(AnnounceRequest, encode({ ...announce, peerId: 'no spaces allowed' })), {
    instanceOf: ProtocolError,
  });
  t.regex(err.message, /peerId/);
  t.throws(() => decode(LookupRequest, encode({ v: 1, fileId: FILE_ID, name: 'both' })), { instanceOf: ProtocolError });
  t.throws(() => decode(LookupRequest, encode({ v: 1 })), { instanceOf: ProtocolError });
});

test('another protocol version is an UnsupportedVersionError', (t) => {
  const err = t.throws(() => decode(AnnounceRequest, encode({ ...announce, v: 2 })), { instanceOf: UnsupportedVersionError });
  t.is(err.code, 'UNSUPPORTED_VERSION');
  t.throws(() => decode(AnnounceRequest, encode({ ...announce, v: '1' })), { instanceOf: UnsupportedVersionError });
});

test('oversize messages are refused both ways', (t) => {
  t.throws(() => decode(AnnounceRequest, new Uint8Array(MAX_MESSAGE_BYTES + 1)), { instanceOf: ProtocolError });
  t.throws(() => encode({ v: 1, blob: 'x'.repeat(MAX_MESSAGE_BYTES) }), { instanceOf: ProtocolError });
});

test('100 000 nested arrays are a ProtocolError, not a stack overflow', (t) => {
  const depth = 100_000;
  const bytes = new Uint8Array(depth + 1).fill(0x91); // fixarray of one item, nested
  bytes[depth] = 0xc0; // nil at the bottom
  const err = t.throws(() => decodeRaw(bytes), { instanceOf: ProtocolError });
  t.regex(err.message, /deeper/);
  // nested maps too, and just past the limit
  const maps = Buffer.concat([...Array.from({ length: MAX_DEPTH + 1 }, () => Buffer.from([0x81, 0xa1, 0x6b])), Buffer.from([0xc0])]);
  t.throws(() => decodeRaw(maps), { instanceOf: ProtocolError });
});

test('msgpack extension types are refused', (t) => {
  for (const bytes of [
    Uint8Array.from([0xd4, 0x01, 0x00]), // fixext 1
    Uint8Array.from([0xc7, 0x01, 0x05, 0x00]), // ext 8
    lax.pack({ v: 1, when: new Date(0) }), // timestamp extension
    lax.pack({ v: 1, nothing: undefined }), // msgpackr writes undefined as an extension
  ]) {
    t.throws(() => decodeRaw(bytes), { instanceOf: ProtocolError });
  }
});

test('prototype keys are refused and pollute nothing', (t) => {
  // a valid announce plus one hostile key, which schema stripping alone would let through
  const withKey = (key: string) => packMap([...Object.entries(announce), [key, { polluted: true }]]);
  t.notThrows(() => decode(AnnounceRequest, withKey('harmless')));
  for (const key of ['__proto__', 'constructor', 'prototype']) {
    t.throws(() => decode(AnnounceRequest, withKey(key)), { instanceOf: ProtocolError }, key);
    const nested = Buffer.concat([Buffer.from([0x81, 0xa6]), Buffer.from('nested'), packMap([[key, true]])]);
    t.throws(() => decodeRaw(nested), { instanceOf: ProtocolError }, `nested ${key}`);
  }
  t.is(({} as Record<string, unknown>).polluted, undefined);
});

/** Decoding must either succeed or throw one of our two protocol errors. */
function onlyProtocolErrors(bytes: Uint8Array): boolean {
  try {
    decode(AnnounceRequest, bytes);
    return true;
  } catch (err) {
    return err instanceof ProtocolError || err instanceof UnsupportedVersionError;
  }
}

test('fuzz: random bytes only ever give protocol errors', (t) => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), onlyProtocolErrors), { numRuns: 2000 });
  t.pass();
});

test('fuzz: random msgpack values only ever give protocol errors', (t) => {
  const value = fc.anything({ maxDepth: 6, withNullPrototype: true, withBoxedValues: true, withSparseArray: true });
  fc.assert(
    fc.property(value, (v) => {
      let bytes: Uint8Array;
      try {
        bytes = lax.pack(v);
      } catch {
        return true; // not packable at all: nothing to decode
      }
      return onlyProtocolErrors(bytes);
    }),
    { numRuns: 2000 },
  );
  t.pass();
});

test('fuzz: a valid announce with bytes flipped only gives protocol errors', (t) => {
  const valid = encode(announce);
  const flips = fc.array(fc.tuple(fc.nat({ max: valid.length - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 });
  fc.assert(
    fc.property(flips, (changes) => {
      const bytes = Uint8Array.from(valid);
      for (const [at, byte] of changes) bytes[at] = byte;
      return onlyProtocolErrors(bytes);
    }),
    { numRuns: 2000 },
  );
  t.pass();
});
