// The chunk server's reads (src/transport/file-reads.ts) on real files: on the event loop while
// they are cache hits, through the thread pool for a while after a slow one, the same bytes and
// the same errors either way; and a real server reports which way its reads went.
import test from 'ava';
import { truncate } from 'node:fs/promises';
import { IoError } from '../../src/errors.js';
import { chunkLength } from '../../src/store/manifest.js';
import { PeerConnection } from '../../src/transport/chunk-client.js';
import { OpenFiles } from '../../src/transport/file-reads.js';
import { CHUNK, logger, sharedFile, startServer, withTimeout, type SharedFile } from '../helpers/chunks.js';

const SIZE = 5 * CHUNK + 777; // 6 chunks, the last one short

/** A clock that moves `step` ms every time it is read (and by hand). */
function steppingClock() {
  const c = { t: 0, step: 0, now: () => (c.t += c.step) };
  return c;
}

async function readChunk(files: OpenFiles, file: SharedFile, index: number): Promise<Buffer> {
  const { size, chunkSize } = file.manifest;
  const length = chunkLength(size, chunkSize, index);
  const buf = Buffer.alloc(length + 3);
  await files.read(file, buf, 3, length, index * chunkSize);
  return buf.subarray(3);
}

function expected(file: SharedFile, index: number): Buffer {
  const { size, chunkSize } = file.manifest;
  return file.data.subarray(index * chunkSize, index * chunkSize + chunkLength(size, chunkSize, index));
}

test('reads on the event loop return every chunk byte for byte', async (t) => {
  const file = await sharedFile(t, SIZE);
  // a clock that stands still: no read is judged slow, however busy the machine running the suite
  const files = new OpenFiles(4, { now: () => 0, cpuMs: () => 0 });
  t.teardown(() => files.closeAll());
  for (let i = 0; i < file.manifest.hashes.length; i++) t.true((await readChunk(files, file, i)).equals(expected(file, i)), `chunk ${i}`);
  t.deepEqual(files.counts, { onLoop: 6, inPool: 0, slow: 0 });
});

test('slow reads on the loop, three in a row, send reads to the thread pool for 5 s; one alone does not', async (t) => {
  const file = await sharedFile(t, SIZE);
  const clock = steppingClock();
  const files = new OpenFiles(4, { now: clock.now, cpuMs: () => 0 });
  t.teardown(() => files.closeAll());
  const read = async (i: number) => t.true((await readChunk(files, file, i)).equals(expected(file, i)), `chunk ${i}`);
  clock.step = 50; // each read "takes" 50 ms: a disk, not the page cache
  await read(0);
  await read(1);
  t.deepEqual(files.counts, { onLoop: 2, inPool: 0, slow: 0 }, 'two slow reads: maybe preemptions, still on the loop');
  await read(2);
  t.deepEqual(files.counts, { onLoop: 3, inPool: 0, slow: 1 }, 'the third in a row sends them to the pool');
  clock.step = 0;
  await read(3);
  clock.t += 4_000;
  await read(4);
  t.deepEqual(files.counts, { onLoop: 3, inPool: 2, slow: 1 }, 'still in the pool 4 s later');
  clock.t += 1_100;
  clock.step = 50;
  await read(5);
  t.deepEqual(files.counts, { onLoop: 4, inPool: 2, slow: 2 }, 'after the back-off one more slow read sends them back');
  clock.step = 0;
  await read(0);
  t.is(files.counts.inPool, 3);
  clock.t += 5_100;
  await read(1);
  t.deepEqual(files.counts, { onLoop: 5, inPool: 3, slow: 2 }, 'a fast read on the loop after the back-off');
  clock.step = 50;
  await read(2);
  clock.step = 0;
  await read(3);
  t.deepEqual(files.counts, { onLoop: 7, inPool: 3, slow: 2 }, 'a lone slow read after a fast one stays on the loop');
});

test('a read that is long on a CPU (first touches of a new buffer) is not a slow read; one that waits off it is', async (t) => {
  const file = await sharedFile(t, SIZE);
  const clock = steppingClock();
  let cpu = 0;
  // every read: 50 ms of wall time, of which `busy` ms on this process's CPUs
  let busy = 49;
  const files = new OpenFiles(4, { now: clock.now, cpuMs: () => (cpu += busy) });
  t.teardown(() => files.closeAll());
  clock.step = 50;
  for (let i = 0; i < 5; i++) await readChunk(files, file, i);
  t.deepEqual(files.counts, { onLoop: 5, inPool: 0, slow: 0 }, '49 of 50 ms on a CPU: the loop stays');
  busy = 10; // 40 ms off the CPUs: a disk
  for (let i = 0; i < 3; i++) await readChunk(files, file, i);
  t.deepEqual(files.counts, { onLoop: 8, inPool: 0, slow: 1 });
});

test('the CPU clock is read only around the reads after one slow by the wall clock', async (t) => {
  const file = await sharedFile(t, SIZE);
  const clock = steppingClock();
  let cpuReadings = 0;
  const files = new OpenFiles(4, { now: clock.now, cpuMs: () => (cpuReadings++, 0) });
  t.teardown(() => files.closeAll());
  for (let i = 0; i < 6; i++) await readChunk(files, file, i);
  t.is(cpuReadings, 0, 'page-cache reads: no getrusage at all');
  clock.step = 50;
  await readChunk(files, file, 0);
  t.is(cpuReadings, 0, 'the first slow read is judged by the wall clock');
  await readChunk(files, file, 1);
  t.is(cpuReadings, 2, 'the next one by its CPU time (before and after)');
  clock.step = 0;
  await readChunk(files, file, 2);
  t.is(cpuReadings, 4, 'still judged: the read before it was slow');
  await readChunk(files, file, 3);
  t.is(cpuReadings, 4, 'a fast read stops the readings');
  t.deepEqual(files.counts, { onLoop: 10, inPool: 0, slow: 0 });
});

test('onLoop: false reads every chunk through the pool', async (t) => {
  const file = await sharedFile(t, SIZE);
  const files = new OpenFiles(4, { onLoop: false });
  t.teardown(() => files.closeAll());
  for (let i = 0; i < file.manifest.hashes.length; i++) t.true((await readChunk(files, file, i)).equals(expected(file, i)));
  t.deepEqual(files.counts, { onLoop: 0, inPool: 6, slow: 0 });
});

for (const onLoop of [true, false]) {
  test(`a file cut short after it was opened is an IoError, not a short chunk (${onLoop ? 'on the loop' : 'in the pool'})`, async (t) => {
    const file = await sharedFile(t, SIZE);
    const files = new OpenFiles(4, { onLoop });
    t.teardown(() => files.closeAll());
    await readChunk(files, file, 0); // opened, size checked
    await truncate(file.path, 2 * CHUNK);
    const err = await t.throwsAsync(readChunk(files, file, 4), { instanceOf: IoError });
    t.regex(err!.message, /shorter than its manifest/);
    // the failed handle is dropped: the next read reopens and sees the new size
    const again = await t.throwsAsync(readChunk(files, file, 0), { instanceOf: IoError });
    t.regex(again!.message, /changed on disk/);
  });
}

test('a chunk server reads a cached file on its event loop and says so in its stats', async (t) => {
  const file = await sharedFile(t, SIZE);
  const { server, port } = await startServer(t, [file]);
  const conn = await PeerConnection.connect({ host: '127.0.0.1', port }, { timeoutMs: 5_000, logger, maxChunkBytes: CHUNK });
  t.teardown(() => conn.close());
  const got: Buffer[] = [];
  for (let i = 0; i < file.manifest.hashes.length; i++) {
    const slices = await withTimeout(conn.getChunk(file.fileId, i, chunkLength(SIZE, CHUNK, i), file.manifest.hashes[i]!), 5_000, `chunk ${i}`);
    got.push(Buffer.concat(slices));
    conn.release(slices);
  }
  t.true(Buffer.concat(got).equals(file.data));
  const { reads, chunks } = server.stats;
  t.is(chunks, 6);
  t.is(reads.onLoop + reads.inPool, 6);
  // a file just written is in the page cache; a 64 KiB read from it takes far less than 2 ms
  // unless the machine stalls the process, which the pool fallback is there for
  t.true(reads.onLoop >= 1, JSON.stringify(reads));
});
