// The part file's early write-back (src/store/writeback.ts): a background fdatasync each
// `syncEveryBytes` written, one at a time, never holding a write back; join still syncs the whole
// file and reports a failure of any background sync (the kernel tells only one fsync of it).
import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { constants } from 'node:fs';
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { chunkCount, fileIdOf } from '../../src/store/manifest.js';
import { PartialDownload } from '../../src/store/partial.js';
import { Writeback } from '../../src/store/writeback.js';
import { tempDir } from '../helpers/tmp.js';

const CHUNK = 64 * 1024;

function makeFile(chunks: number) {
  const data = randomBytes(chunks * CHUNK);
  const hashes = Array.from({ length: chunkCount(data.length, CHUNK) }, (_, i) => createHash('sha256').update(data.subarray(i * CHUNK, (i + 1) * CHUNK)).digest());
  const manifest = { size: data.length, chunkSize: CHUNK, hashes };
  return { data, manifest, fileId: fileIdOf(manifest) };
}

async function download(t: import('ava').ExecutionContext, syncEveryBytes: number | undefined) {
  const dir = await tempDir(t);
  const { data, manifest, fileId } = makeFile(32);
  const partial = await PartialDownload.open({ chunksDir: join(dir, 'chunks'), fileId, manifest, name: 'f.bin', syncEveryBytes });
  // written in parallel, as a download does: no write waits for a sync
  await Promise.all(Array.from({ length: 32 }, (_, i) => partial.writeChunk(i, [data.subarray(i * CHUNK, (i + 1) * CHUNK)])));
  const started = partial.writeback.started;
  const path = await partial.join(join(dir, 'downloads'));
  t.true((await readFile(path)).equals(data));
  return started;
}

test('a background sync each syncEveryBytes, one at a time; join gives the whole file', async (t) => {
  const started = await download(t, 4 * CHUNK);
  // 32 chunks, a sync due every 4: at most 8, fewer when one was still running as the next fell due
  t.true(started >= 1 && started <= 8, `started ${started}`);
});

test('syncEveryBytes 0: no background sync, the file is synced at join only', async (t) => {
  t.is(await download(t, 0), 0);
});

test('the default syncs every 64 MiB: none for a small file', async (t) => {
  t.is(await download(t, undefined), 0);
});

/** A Writeback (a sync due every 10 bytes) on a FIFO: the kernel refuses fdatasync on it (EINVAL), as a failing disk refuses write-back. */
async function failingWriteback(t: import('ava').ExecutionContext, dir: string): Promise<Writeback> {
  const fifo = join(dir, 'part');
  execFileSync('mkfifo', [fifo]);
  const fh = await open(fifo, constants.O_RDWR | constants.O_NONBLOCK);
  t.teardown(() => fh.close());
  return new Writeback(fh, 10);
}

test('a background sync that fails is reported by the sync at join, not lost', async (t) => {
  const wb = await failingWriteback(t, await tempDir(t));
  wb.wrote(100);
  wb.wrote(100);
  t.is(wb.started, 1, 'a second sync does not start while one runs');
  const err = await t.throwsAsync(wb.syncAll());
  t.is((err as NodeJS.ErrnoException).code, 'EINVAL');
  wb.wrote(100);
  t.is(wb.started, 1, 'no more syncs after a failure');
  await t.throwsAsync(wb.syncAll(), { code: 'EINVAL' }, 'still reported at the next join attempt');
});

test('after a background sync failed, the next chunk write fails at once (IO_ERROR), not the join at the end', async (t) => {
  const dir = await tempDir(t);
  const wb = await failingWriteback(t, dir);
  t.notThrows(() => wb.check(), 'nothing to report before a sync failed');
  wb.wrote(100);
  await t.throwsAsync(wb.syncAll(), { code: 'EINVAL' });
  t.throws(() => wb.check(), { code: 'IO_ERROR', message: /EINVAL/ });

  // the same in a download: its part file's write-back fails (the FIFO's Writeback in its place)
  const { data, manifest, fileId } = makeFile(4);
  const partial = await PartialDownload.open({ chunksDir: join(dir, 'chunks'), fileId, manifest, name: 'f.bin' });
  t.teardown(() => partial.discard());
  await partial.writeChunk(0, [data.subarray(0, CHUNK)]);
  const own = partial.writeback;
  t.teardown(() => own.close()); // the part file's own handle, no longer the download's to close
  Object.defineProperty(partial, 'writeback', { value: wb });
  await t.throwsAsync(partial.writeChunk(1, [data.subarray(CHUNK, 2 * CHUNK)]), { code: 'IO_ERROR' });
  t.false(partial.has(1), 'the chunk is not counted as written');
  t.is(partial.verifiedBytes(), CHUNK);
});
