// Hostile sources, client side: fake peers (plain net.Servers) that answer half frames and hang
// up, claim 4 GiB frames, send garbage, answer chunks nobody asked for, or send a 60 KB error.
// Each is dropped (or struck) without the claimed size ever being allocated, nothing crashes,
// and the download completes from the good source with the right SHA-256. (Wrong chunk bytes,
// wrong lengths and stalls are in data-plane.test.ts.)
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { PeerUnreachableError, ProtocolError } from '../../src/errors.js';
import { encodeChunkHeader, encodeError, FrameType, type FrameEvent } from '../../src/protocol/frames.js';
import { chunkLength } from '../../src/store/manifest.js';
import { PeerConnection } from '../../src/transport/chunk-client.js';
import { fetchFile, fetchManifest } from '../../src/download/fetch.js';
import {
  CHUNK,
  fakeServer,
  fetchOptions,
  joinedSha256,
  logger,
  openPartial,
  sha256,
  sharedFile,
  source,
  startServer,
  until,
  scriptedSource,
  type SharedFile,
} from '../helpers/chunks.js';

const SIZE = 2 * 1024 * 1024 + 777; // 33 chunks, the last one short

/** Bytes that claim a frame of 4 GiB - 1 (type CHUNK), then a little of its body. */
function hugeChunkClaim(reqId: number): Buffer {
  const head = encodeChunkHeader(reqId, 0, 0);
  head.writeUInt32BE(0xffffffff, 0);
  return Buffer.concat([head, randomBytes(64 * 1024)]);
}

/** An ERROR frame whose message is 60 000 bytes: far over the 1024 the protocol allows. */
function hugeError(reqId: number): Buffer {
  const frame = encodeError(reqId, 'NOT_FOUND', 'x');
  const body = Buffer.alloc(60_000, 0x41);
  frame.writeUInt32BE(frame.length - 4 + body.length - 1, 0);
  return Buffer.concat([frame.subarray(0, frame.length - 1), body]);
}

/** The right bytes of chunk `index` in a CHUNK frame with `reqId`. */
function chunkFrame(file: SharedFile, reqId: number, index: number): Buffer {
  const length = chunkLength(file.manifest.size, CHUNK, index);
  return Buffer.concat([encodeChunkHeader(reqId, index, length), file.data.subarray(index * CHUNK, index * CHUNK + length)]);
}

const scripted = scriptedSource;

/** Peak of process.memoryUsage().arrayBuffers while `run` runs (sampled every 2 ms). */
async function peakArrayBuffers<T>(run: () => Promise<T>): Promise<{ result: T; grewBy: number }> {
  const before = process.memoryUsage().arrayBuffers;
  let peak = before;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().arrayBuffers)), 2);
  try {
    const result = await run();
    return { result, grewBy: Math.max(peak, process.memoryUsage().arrayBuffers) - before };
  } finally {
    clearInterval(sampler);
  }
}

interface HostileCase {
  name: string;
  /** what the fake does with each request (or, with onConnect, as soon as it accepts) */
  answer?: (file: SharedFile) => (socket: Socket, e: FrameEvent) => void;
  onConnect?: (socket: Socket) => void;
  /** the reason the source is dropped must match */
  dropped: RegExp;
}

const cases: HostileCase[] = [
  {
    name: 'half a chunk frame, then it hangs up',
    answer: (file) => (socket, e) => {
      if (e.type !== 'get-chunk') return;
      const frame = chunkFrame(file, e.reqId, e.index);
      socket.end(frame.subarray(0, frame.length >> 1));
    },
    dropped: /PEER_UNREACHABLE/,
  },
  {
    name: 'a 4 GiB length prefix',
    answer: () => (socket, e) => void (e.type === 'get-chunk' && socket.write(hugeChunkClaim(e.reqId))),
    dropped: /PROTOCOL_ERROR|after a protocol error/,
  },
  {
    name: 'garbage as soon as it accepts',
    onConnect: (socket) => socket.write(Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n'), randomBytes(4096)])),
    dropped: /after a protocol error/,
  },
  {
    name: 'a CHUNK for an index that was not asked (with that index’s right bytes)',
    answer: (file) => (socket, e) => {
      if (e.type === 'get-chunk') socket.write(chunkFrame(file, e.reqId, (e.index + 1) % file.manifest.hashes.length));
    },
    dropped: /PROTOCOL_ERROR|after a protocol error/,
  },
  {
    name: 'a CHUNK for a request that was never made',
    answer: (file) => (socket, e) => {
      if (e.type === 'get-chunk') socket.write(chunkFrame(file, e.reqId + 1000, e.index));
    },
    dropped: /after a protocol error/,
  },
  {
    name: 'an ERROR with a 60 KB message',
    answer: () => (socket, e) => void (e.type === 'get-chunk' && socket.write(hugeError(e.reqId))),
    dropped: /after a protocol error/,
  },
];

for (const c of cases) {
  test(`hostile source: ${c.name} → dropped, nothing allocated, the download completes from the good one`, async (t) => {
    const file = await sharedFile(t, SIZE);
    const good = await startServer(t, [file]);
    const bad = c.onConnect ? await fakeServer(t, c.onConnect) : await scripted(t, c.answer!(file));
    const partial = await openPartial(t, file);
    const events: string[] = [];
    const { result: outcome, grewBy } = await peakArrayBuffers(() =>
      fetchFile(
        fetchOptions(file, partial, [source('mallory', bad.port), source('alice', good.port)], {
          onSourceEvent: (e) => e.kind !== 'chunk' && e.kind !== 'connected' && events.push(`${e.peerId} ${e.kind} ${e.detail ?? ''}`.trim()),
        }),
      ),
    );
    t.deepEqual(outcome, { outcome: 'complete' });
    const drop = events.find((e) => e.startsWith('mallory dropped'));
    t.truthy(drop, events.join('; '));
    t.regex(drop!, c.dropped);
    t.false(events.some((e) => e.startsWith('alice ')), events.join('; '));
    t.is(bad.accepted(), 1, 'mallory was dropped, not connected to again');
    t.true(grewBy < 256 * 1024 * 1024, `array buffers grew by ${grewBy} bytes`);
    t.is(await joinedSha256(t, partial), sha256(file.data));
  });
}

test('a 4 GiB claim closes the connection at once: no waiting for the body, no allocation', async (t) => {
  const file = await sharedFile(t, SIZE);
  const bad = await scripted(t, (socket, e) => void (e.type === 'get-chunk' && socket.write(hugeChunkClaim(e.reqId))));
  const conn = await PeerConnection.connect({ host: '127.0.0.1', port: bad.port }, { timeoutMs: 10_000, logger, maxChunkBytes: CHUNK });
  t.teardown(() => conn.close());
  const started = Date.now();
  const { result, grewBy } = await peakArrayBuffers(() => conn.getChunk(file.fileId, 0, CHUNK, file.manifest.hashes[0]!).then(() => 'answered', (err: unknown) => err));
  t.true(result instanceof ProtocolError || (result instanceof PeerUnreachableError && result.cause instanceof ProtocolError), String(result));
  t.true(Date.now() - started < 2000, 'failed long before the 10 s timeout');
  await until(() => bad.closed() === 1, 2000, 'the client to hang up');
  t.true(grewBy < 64 * 1024 * 1024, `array buffers grew by ${grewBy} bytes`);
});

test('manifests: a 4 GiB MANIFEST claim and a garbage answer are skipped; the honest source gives it', async (t) => {
  const file = await sharedFile(t, SIZE);
  const huge = await scripted(t, (socket, e) => {
    if (e.type !== 'get-manifest') return;
    const head = Buffer.alloc(9);
    head.writeUInt32BE(0xffffffff, 0);
    head[4] = FrameType.Manifest;
    head.writeUInt32BE(e.reqId, 5);
    socket.write(Buffer.concat([head, randomBytes(4096)]));
  });
  const garbage = await fakeServer(t, (socket) => socket.write(randomBytes(2048).fill(0xee, 0, 5)));
  const good = await startServer(t, [file]);
  const { result, grewBy } = await peakArrayBuffers(() =>
    fetchManifest([source('huge', huge.port), source('garbage', garbage.port), source('alice', good.port)], file.fileId, { timeoutMs: 5000, logger }),
  );
  t.deepEqual(result, file.manifest);
  t.true(grewBy < 64 * 1024 * 1024, `array buffers grew by ${grewBy} bytes`);
});
