// The peer's file index: hashing, the hash cache across restarts, files added and removed later,
// and symlinks that leave shared/.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { mkdir, rm, symlink, unlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Library } from '../../src/store/library.js';
import { fileIdOf, hashFile } from '../../src/store/manifest.js';
import { createLogger } from '../../src/logger.js';
import { tempDir } from '../helpers/tmp.js';

const logger = createLogger({ level: 'silent' });
const opts = (dir: string) => ({ dir, minChunkSize: 64 * 1024, maxChunks: 8192 });

async function setup(t: Parameters<typeof tempDir>[0]) {
  const dir = await tempDir(t);
  await mkdir(join(dir, 'shared', 'sub'), { recursive: true });
  await mkdir(join(dir, 'downloads', 'chunks'), { recursive: true });
  await mkdir(join(dir, '.p2p'), { recursive: true });
  return dir;
}

test('indexes shared/ recursively and downloads/ top level, with content ids', async (t) => {
  const dir = await setup(t);
  await writeFile(join(dir, 'shared', 'a.bin'), randomBytes(200_000));
  await writeFile(join(dir, 'shared', 'sub', 'b.txt'), 'hello');
  await writeFile(join(dir, 'downloads', 'c.bin'), randomBytes(10));
  await writeFile(join(dir, 'downloads', 'chunks', 'x.part'), randomBytes(10));
  await writeFile(join(dir, 'shared', '.hidden'), 'no');
  const lib = new Library({ logger }, opts(dir));
  await lib.load();
  const { added } = await lib.scan({ settle: false });
  t.deepEqual(added.map((f) => f.name).sort(), ['a.bin', 'b.txt', 'c.bin']);
  const a = lib.findByName('a.bin')[0]!;
  t.is(a.manifest.hashes.length, 4);
  t.is(a.fileId, fileIdOf(await hashFile(a.path, 64 * 1024)));
  t.is(lib.get(a.fileId)?.path, a.path);
});

test('a restart does not rehash unchanged files; a changed file is rehashed', async (t) => {
  const dir = await setup(t);
  const file = join(dir, 'shared', 'a.bin');
  await writeFile(file, randomBytes(100_000));
  const first = new Library({ logger }, opts(dir));
  await first.load();
  await first.scan({ settle: false });
  const id = first.findByName('a.bin')[0]!.fileId;

  // a cache hit never reads the file: make it unreadable and the index still holds it
  const hashed: string[] = [];
  const spy = createLogger({ level: 'info', console: false });
  spy.on('data', (info: { message: string }) => hashed.push(info.message));
  const second = new Library({ logger: spy }, opts(dir));
  await second.load();
  await second.scan({ settle: false });
  t.is(second.findByName('a.bin')[0]?.fileId, id);
  t.false(hashed.includes('file hashed'), 'unchanged file was not rehashed');

  await writeFile(file, randomBytes(100_000));
  const past = new Date(Date.now() - 10_000);
  await utimes(file, past, past);
  const third = new Library({ logger: spy }, opts(dir));
  await third.load();
  await third.scan();
  t.not(third.findByName('a.bin')[0]?.fileId, id);
  t.true(hashed.includes('file hashed'), 'the changed file was rehashed (and the spy sees it)');
});

test('new chunk settings rehash shared files; a download keeps the chunk size of its swarm', async (t) => {
  const dir = await setup(t);
  await writeFile(join(dir, 'shared', 'a.bin'), randomBytes(300_000));
  const got = join(dir, 'downloads', 'got.bin');
  await writeFile(got, randomBytes(300_000));
  const first = new Library({ logger }, opts(dir));
  await first.load();
  await first.scan({ settle: false });
  const swarmManifest = await hashFile(got, 32 * 1024); // as a swarm with other settings hashed it
  await first.addDownloaded(got, swarmManifest, 'got.bin');
  t.is(first.findByName('a.bin')[0]!.manifest.chunkSize, 64 * 1024);

  const second = new Library({ logger }, { ...opts(dir), minChunkSize: 128 * 1024 });
  await second.load();
  await second.scan({ settle: false });
  const a = second.findByName('a.bin')[0]!;
  t.is(a.manifest.chunkSize, 128 * 1024, 'the cached 64 KiB hashes were not reused');
  t.is(a.fileId, fileIdOf(await hashFile(a.path, 128 * 1024)));
  const d = second.findByName('got.bin')[0]!;
  t.is(d.fileId, fileIdOf(swarmManifest), 'the download is still offered under the id it was fetched by');
});

test('files added later are picked up; removed ones are reported', async (t) => {
  const dir = await setup(t);
  const lib = new Library({ logger }, opts(dir));
  await lib.load();
  t.deepEqual((await lib.scan()).added, []);
  const file = join(dir, 'shared', 'late.bin');
  await writeFile(file, randomBytes(1000));
  // too fresh: may still be being written
  t.deepEqual((await lib.scan()).added, []);
  const past = new Date(Date.now() - 5000);
  await utimes(file, past, past);
  const { added } = await lib.scan();
  t.deepEqual(added.map((f) => f.name), ['late.bin']);
  await unlink(file);
  const { removed } = await lib.scan();
  t.deepEqual(removed.map((f) => f.name), ['late.bin']);
  t.is(lib.count(), 0);
});

test('symlinks pointing outside shared/ are not shared unless allowed', async (t) => {
  const dir = await setup(t);
  const outside = await tempDir(t);
  await writeFile(join(outside, 'secret.txt'), 'secret');
  await writeFile(join(dir, 'shared', 'inside.txt'), 'ok');
  await symlink(join(outside, 'secret.txt'), join(dir, 'shared', 'leak.txt'));
  await symlink(join(dir, 'shared', 'inside.txt'), join(dir, 'shared', 'alias.txt'));
  const lib = new Library({ logger }, opts(dir));
  await lib.scan({ settle: false });
  t.deepEqual(lib.files().map((f) => f.name).sort(), ['alias.txt', 'inside.txt']);
  const open = new Library({ logger }, { ...opts(dir), followExternalSymlinks: true });
  await open.scan({ settle: false });
  t.truthy(open.findByName('leak.txt')[0]);
  await rm(outside, { recursive: true, force: true });
});
