// Download state on disk: out-of-order writes, resume after reopen, atomic join to a unique
// safe name that never overwrites, hostile names, zero-byte files.
import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { open, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BadRequestError, ManifestMismatchError, UnsafeNameError } from '../../src/errors.js';
import { chunkCount, chunkLength, fileIdOf, type Manifest } from '../../src/store/manifest.js';
import { PartialDownload } from '../../src/store/partial.js';
import { writePieces } from '../../src/store/partial-files.js';
import { tempDir } from '../helpers/tmp.js';

const CHUNK = 1000;

function makeFile(size: number): { data: Buffer; manifest: Manifest; fileId: string } {
  const data = randomBytes(size);
  const hashes: Buffer[] = [];
  for (let i = 0; i < chunkCount(size, CHUNK); i++) hashes.push(createHash('sha256').update(data.subarray(i * CHUNK, (i + 1) * CHUNK)).digest());
  const manifest = { size, chunkSize: CHUNK, hashes };
  return { data, manifest, fileId: fileIdOf(manifest) };
}

/** The chunk's bytes as a few slices, the way they come off a socket. */
function slicesOf(data: Buffer, index: number): Buffer[] {
  const chunk = data.subarray(index * CHUNK, index * CHUNK + chunkLength(data.length, CHUNK, index));
  const cut = Math.floor(chunk.length / 3);
  return [chunk.subarray(0, cut), chunk.subarray(cut, 2 * cut), chunk.subarray(2 * cut)];
}

test('chunks written out of order survive close and reopen; join gives the file', async (t) => {
  const dir = await tempDir(t);
  const chunksDir = join(dir, 'downloads', 'chunks');
  const { data, manifest, fileId } = makeFile(5 * CHUNK + 123);
  const first = await PartialDownload.open({ chunksDir, fileId, manifest, name: 'movie.mkv' });
  t.deepEqual(first.missing(), [0, 1, 2, 3, 4, 5]);
  await first.writeChunk(5, slicesOf(data, 5));
  await first.writeChunk(2, slicesOf(data, 2));
  await first.writeChunk(0, slicesOf(data, 0));
  t.true(first.has(5) && first.has(2) && !first.has(1));
  t.is(first.verifiedBytes(), 2 * CHUNK + 123);
  t.true((await first.readChunk(5)).equals(data.subarray(5 * CHUNK)));
  await first.close();

  t.deepEqual(await PartialDownload.loadManifest(chunksDir, fileId), manifest);
  const second = await PartialDownload.open({ chunksDir, fileId, manifest, name: 'movie.mkv' });
  t.teardown(() => second.close());
  t.deepEqual(second.missing(), [1, 3, 4]);
  t.is(second.verifiedCount(), 3);
  await t.throwsAsync(second.join(join(dir, 'downloads')), { message: /not complete/ });
  for (const i of second.missing()) await second.writeChunk(i, slicesOf(data, i));
  t.true(second.isComplete());
  const final = await second.join(join(dir, 'downloads'));
  t.is(final, join(dir, 'downloads', 'movie.mkv'));
  t.true((await readFile(final)).equals(data));
  t.deepEqual(await readdir(chunksDir), [], 'temp, state and manifest files are gone');
});

test('state is persisted in the background, without flush or close', async (t) => {
  const dir = await tempDir(t);
  const { data, manifest, fileId } = makeFile(3 * CHUNK);
  const partial = await PartialDownload.open({ chunksDir: dir, fileId, manifest, name: 'a', persistIntervalMs: 10 });
  t.teardown(() => partial.close());
  await partial.writeChunk(1, slicesOf(data, 1));
  const statePath = join(dir, `${fileId}.state`);
  const deadline = Date.now() + 5000;
  let bits = '';
  while (Date.now() < deadline) {
    bits = (JSON.parse(await readFile(statePath, 'utf8')) as { verified: string }).verified;
    if (Buffer.from(bits, 'base64')[0] === 0b010) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  t.is(Buffer.from(bits, 'base64')[0], 0b010);
});

test('a state file that does not match the part file is not trusted', async (t) => {
  const dir = await tempDir(t);
  const { data, manifest, fileId } = makeFile(2 * CHUNK);
  const first = await PartialDownload.open({ chunksDir: dir, fileId, manifest, name: 'a' });
  await first.writeChunk(0, slicesOf(data, 0));
  await first.close();
  await writeFile(join(dir, `${fileId}.part`), Buffer.alloc(10)); // truncated behind our back
  const second = await PartialDownload.open({ chunksDir: dir, fileId, manifest, name: 'a' });
  t.teardown(() => second.close());
  t.deepEqual(second.missing(), [0, 1]);
  t.is((await stat(join(dir, `${fileId}.part`))).size, 2 * CHUNK);
});

test('join never overwrites: an existing name gets a numbered variant', async (t) => {
  const dir = await tempDir(t);
  const downloads = join(dir, 'downloads');
  const { data, manifest, fileId } = makeFile(CHUNK + 1);
  const names: string[] = [];
  for (let round = 0; round < 3; round++) {
    const partial = await PartialDownload.open({ chunksDir: join(downloads, 'chunks'), fileId, manifest, name: 'report.pdf' });
    if (round === 0) {
      await writeFile(join(downloads, 'report.pdf'), 'precious');
    }
    await partial.writeChunk(0, slicesOf(data, 0));
    await partial.writeChunk(1, slicesOf(data, 1));
    names.push(await partial.join(downloads));
  }
  t.deepEqual(names, ['report (1).pdf', 'report (2).pdf', 'report (3).pdf'].map((n) => join(downloads, n)));
  t.is(await readFile(join(downloads, 'report.pdf'), 'utf8'), 'precious');
  for (const n of names) t.true((await readFile(n)).equals(data));
});

test('hostile names land as safe base names inside downloadsDir', async (t) => {
  const dir = await tempDir(t);
  const downloads = join(dir, 'downloads');
  const { data, manifest, fileId } = makeFile(10);
  const cases: Array<[string, string]> = [
    ['../../etc/passwd', 'passwd'],
    ['/abs', 'abs'],
    ['a/b', 'b'],
    // a backslash is an ordinary character here (issue 9, class 8): one name, inside downloadsDir
    ['..\\..\\windows\\system.ini', process.platform === 'win32' ? 'system.ini' : '..\\..\\windows\\system.ini'],
    // a Windows device name is an ordinary name here: stored as it is
    ['con', process.platform === 'win32' ? 'con_' : 'con'],
  ];
  for (const [hostile, safe] of cases) {
    const partial = await PartialDownload.open({ chunksDir: join(downloads, 'chunks'), fileId, manifest, name: hostile });
    await partial.writeChunk(0, [data]);
    t.is(await partial.join(downloads), join(downloads, safe), hostile);
  }
  t.deepEqual((await readdir(downloads)).sort(), cases.map(([, safe]) => safe).concat('chunks').sort());
  for (const unusable of ['..', '', 'x/..', '...']) {
    await t.throwsAsync(PartialDownload.open({ chunksDir: join(downloads, 'chunks'), fileId, manifest, name: unusable }), { instanceOf: UnsafeNameError });
  }
});

test('a zero-byte file has no chunks and joins to an empty file', async (t) => {
  const dir = await tempDir(t);
  const manifest = { size: 0, chunkSize: CHUNK, hashes: [] };
  const fileId = fileIdOf(manifest);
  const partial = await PartialDownload.open({ chunksDir: join(dir, 'chunks'), fileId, manifest, name: 'empty.txt' });
  t.true(partial.isComplete());
  t.deepEqual(partial.missing(), []);
  const final = await partial.join(dir);
  t.is((await stat(final)).size, 0);
});

test('bad input: wrong manifest, wrong chunk length, index out of range, unverified read', async (t) => {
  const dir = await tempDir(t);
  const { data, manifest, fileId } = makeFile(2 * CHUNK);
  await t.throwsAsync(PartialDownload.open({ chunksDir: dir, fileId: 'ab'.repeat(32), manifest, name: 'a' }), { instanceOf: ManifestMismatchError });
  await t.throwsAsync(PartialDownload.open({ chunksDir: dir, fileId: '../x', manifest, name: 'a' }), { instanceOf: BadRequestError });
  const partial = await PartialDownload.open({ chunksDir: dir, fileId, manifest, name: 'a' });
  t.teardown(() => partial.close());
  await t.throwsAsync(partial.writeChunk(0, [data.subarray(0, CHUNK - 1)]), { instanceOf: BadRequestError });
  await t.throwsAsync(partial.writeChunk(2, [data.subarray(0, CHUNK)]), { instanceOf: BadRequestError });
  await t.throwsAsync(partial.readChunk(1), { instanceOf: BadRequestError });
  t.is(partial.verifiedCount(), 0);
});

test('discard removes every temp file', async (t) => {
  const dir = await tempDir(t);
  const { data, manifest, fileId } = makeFile(2 * CHUNK);
  const partial = await PartialDownload.open({ chunksDir: dir, fileId, manifest, name: 'a' });
  await partial.writeChunk(1, slicesOf(data, 1));
  await partial.discard();
  t.deepEqual(await readdir(dir), []);
  t.is(await PartialDownload.loadManifest(dir, fileId), undefined);
});

test('a resume re-hashes claimed chunks and drops those whose bytes were lost', async (t) => {
  const dir = await tempDir(t);
  const chunksDir = join(dir, 'downloads', 'chunks');
  const { data, manifest, fileId } = makeFile(4 * CHUNK);
  const first = await PartialDownload.open({ chunksDir, fileId, manifest, name: 'x.bin' });
  for (const i of [0, 1, 2]) await first.writeChunk(i, slicesOf(data, i));
  await first.close();
  // simulate an OS crash that lost chunk 1's unsynced bytes while the state file survived
  const { open } = await import('node:fs/promises');
  const fh = await open(join(chunksDir, `${fileId}.part`), 'r+');
  await fh.write(Buffer.alloc(CHUNK), 0, CHUNK, 1 * CHUNK);
  await fh.close();
  const second = await PartialDownload.open({ chunksDir, fileId, manifest, name: 'x.bin' });
  t.teardown(() => second.close());
  t.deepEqual(second.resumeCheck, { claimed: 3, kept: 2 });
  t.deepEqual(second.missing(), [1, 3]);
  for (const i of second.missing()) await second.writeChunk(i, slicesOf(data, i));
  t.true((await readFile(await second.join(join(dir, 'downloads')))).equals(data));
});

test('a part file without a usable state file is re-checked chunk by chunk', async (t) => {
  const dir = await tempDir(t);
  const chunksDir = join(dir, 'downloads', 'chunks');
  const { data, manifest, fileId } = makeFile(4 * CHUNK + 10);
  const first = await PartialDownload.open({ chunksDir, fileId, manifest, name: 'x.bin' });
  for (const i of [1, 4]) await first.writeChunk(i, slicesOf(data, i));
  await first.close();
  // the state file is lost (e.g. the disk was full when it was due)
  const { rm } = await import('node:fs/promises');
  await rm(join(chunksDir, `${fileId}.state`));
  const second = await PartialDownload.open({ chunksDir, fileId, manifest, name: 'x.bin' });
  t.teardown(() => second.close());
  t.deepEqual(second.missing(), [0, 2, 3]);
  t.deepEqual(second.resumeCheck, { claimed: 5, kept: 2 });
});

test('writePieces: a chunk bigger than a piece, in uneven slices, lands byte for byte; a failed piece fails the write after all settle', async (t) => {
  const dir = await tempDir(t);
  const path = join(dir, 'part');
  await writeFile(path, Buffer.alloc(0));
  const data = randomBytes(10_000);
  const fh = await open(path, 'r+');
  try {
    // 7 slices of uneven lengths, cut into pieces of 1 024 bytes at offset 500
    const cuts = [0, 1, 900, 2048, 2049, 5000, 9999, 10_000];
    const slices = cuts.slice(1).map((end, k) => data.subarray(cuts[k]!, end));
    await writePieces(fh, slices, 500, data.length, 1024);
    const back = await readFile(path);
    t.is(back.length, 10_500);
    t.true(back.subarray(500).equals(data));
    t.true(back.subarray(0, 500).equals(Buffer.alloc(500)), 'nothing before the position');
    await t.throwsAsync(writePieces(fh, slices, 0, data.length + 1, 1024), { message: /hold 10000 bytes, expected 10001/ });
  } finally {
    await fh.close();
  }
  // a closed handle: every piece fails, and the write rejects once they have all settled
  await t.throwsAsync(writePieces(fh, [data], 0, data.length, 1024));
});
