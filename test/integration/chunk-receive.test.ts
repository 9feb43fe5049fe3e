// The chunk client's receive path over real TCP (src/transport/chunk-client-io.ts): bodies read
// straight into their pooled buffers or copied from the reused read buffer, whatever the sender's
// splits; a chunk cancelled mid-body never lets its late bytes land in another chunk's buffer.
import test from 'ava';
import type { Socket } from 'node:net';
import { encodeChunkHeader } from '../../src/protocol/frames.js';
import { chunkLength } from '../../src/store/manifest.js';
import { PeerConnection } from '../../src/transport/chunk-client.js';
import { chunkBuffers } from '../../src/transport/chunk-buffers.js';
import { CHUNK, logger, scriptedSource, sharedFile, startServer, withTimeout } from '../helpers/chunks.js';

const SIZE = 20 * CHUNK + 777;

/** Write `bytes` in pieces of the given sizes (cycled), each on its own tick. */
async function trickle(socket: Socket, bytes: Buffer, sizes: number[]): Promise<void> {
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const n = Math.min(sizes[i % sizes.length]!, bytes.length - at);
    if (socket.destroyed) return;
    socket.write(bytes.subarray(at, at + n));
    at += n;
    await new Promise((r) => setImmediate(r));
  }
}

test('pipelined chunks arrive byte-identical in one contiguous buffer each, however the sender splits them', async (t) => {
  const file = await sharedFile(t, SIZE);
  const frames: Buffer[] = [];
  let flushing: Promise<void> | undefined;
  const fake = await scriptedSource(t, (socket, e) => {
    if (e.type !== 'get-chunk') return;
    const length = chunkLength(SIZE, CHUNK, e.index);
    frames.push(encodeChunkHeader(e.reqId, e.index, length), file.data.subarray(e.index * CHUNK, e.index * CHUNK + length));
    // headers cut in two, bodies in odd pieces, the end of one chunk glued to the start of the next
    flushing ??= new Promise<void>((r) => setImmediate(r)).then(async () => {
      const all = Buffer.concat(frames.splice(0));
      flushing = undefined;
      await trickle(socket, all, [7, 3, 40_000, 1, 70_001, 5, 13]);
    });
  });
  const conn = await PeerConnection.connect({ host: '127.0.0.1', port: fake.port }, { timeoutMs: 5000, logger, maxChunkBytes: CHUNK });
  t.teardown(() => conn.close());
  const count = file.manifest.hashes.length;
  const got = await Promise.all(Array.from({ length: count }, (_, i) => conn.getChunk(file.fileId, i, chunkLength(SIZE, CHUNK, i), file.manifest.hashes[i]!)));
  for (let i = 0; i < count; i++) {
    t.is(got[i]!.length, 1);
    t.true(got[i]![0]!.equals(file.data.subarray(i * CHUNK, i * CHUNK + chunkLength(SIZE, CHUNK, i))), `chunk ${i}`);
  }
  for (const slices of got) conn.release(slices);
});

test('a chunk cancelled while its body streams: the rest is skipped, and no other chunk is corrupted', async (t) => {
  const file = await sharedFile(t, SIZE);
  let slowSocket: Socket | undefined;
  let slowBody: Buffer | undefined;
  const held: Buffer[] = []; // answers after chunk 0's, sent once its body is done (one stream)
  const slow = await scriptedSource(t, (socket, e) => {
    if (e.type !== 'get-chunk') return;
    const length = chunkLength(SIZE, CHUNK, e.index);
    if (e.index === 0) {
      // chunk 0: the header and a first piece now, the rest only when told
      slowSocket = socket;
      slowBody = file.data.subarray(0, length);
      socket.write(Buffer.concat([encodeChunkHeader(e.reqId, e.index, length), slowBody.subarray(0, 1000)]));
    } else held.push(encodeChunkHeader(e.reqId, e.index, length), file.data.subarray(e.index * CHUNK, e.index * CHUNK + length));
  });
  const { port } = await startServer(t, [file]);
  const opts = { timeoutMs: 5000, logger, maxChunkBytes: CHUNK };
  const a = await PeerConnection.connect({ host: '127.0.0.1', port: slow.port }, opts);
  const b = await PeerConnection.connect({ host: '127.0.0.1', port }, opts);
  t.teardown(() => (a.close(), b.close()));
  const cancel = new AbortController();
  const first = a.getChunk(file.fileId, 0, CHUNK, file.manifest.hashes[0]!, cancel.signal);
  const second = a.getChunk(file.fileId, 1, CHUNK, file.manifest.hashes[1]!);
  await withTimeout(
    (async () => {
      while (!slowSocket) await new Promise((r) => setTimeout(r, 5));
    })(),
    5000,
    'chunk 0 to start',
  );
  await new Promise((r) => setTimeout(r, 50));
  cancel.abort();
  await t.throwsAsync(first, { message: /cancelled/ });
  // meanwhile the pool hands buffers to another connection's chunks
  const others = await Promise.all([2, 3, 4, 5].map((i) => b.getChunk(file.fileId, i, CHUNK, file.manifest.hashes[i]!)));
  // the rest of the cancelled body arrives now (it lands where chunk 0 was being read, or is copied and dropped)
  slowSocket!.write(Buffer.concat([slowBody!.subarray(1000), ...held.splice(0)]));
  const [one] = await second;
  t.true(one!.equals(file.data.subarray(CHUNK, 2 * CHUNK)));
  others.forEach(([buf], k) => t.true(buf!.equals(file.data.subarray((k + 2) * CHUNK, (k + 3) * CHUNK)), `chunk ${k + 2}`));
  t.false(a.closed);
  a.release([one!]);
  for (const s of others) b.release(s);
  // a later chunk on the slow connection still comes through intact
  const later = a.getChunk(file.fileId, 6, CHUNK, file.manifest.hashes[6]!);
  await withTimeout(
    (async () => {
      while (held.length === 0) await new Promise((r) => setTimeout(r, 5));
    })(),
    5000,
    'the request for chunk 6',
  );
  slowSocket!.write(Buffer.concat(held.splice(0)));
  const [again] = await later;
  t.true(again!.equals(file.data.subarray(6 * CHUNK, 7 * CHUNK)));
  a.release([again!]);
  t.true(chunkBuffers.keptBytes > 0);
});
