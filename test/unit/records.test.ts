// Our own records stay valid whatever remote parties send (issue 9, class 5), and the fence holds
// at every write (class 7): bounded text, record-by-record reads of downloads.json and
// hash-cache.json, file-system errors without local paths, the fence checked again at each write.
import test from 'ava';
import { mkdir, readFile, rename, symlink, writeFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { boundedList, boundedMessage, isLocalFatal, LOCAL_FATAL_CODES, toP2PError } from '../../src/errors.js';
import { DownloadInfo } from '../../src/protocol/messages.js';
import { DownloadHistory } from '../../src/store/history.js';
import { parseHashCache } from '../../src/store/hash-cache.js';
import { checkFence, ensureRealDir, openAppendNoFollow, unfence, writeFileAtomic } from '../../src/store/fence.js';
import type { Logger } from 'winston';
import { createLogger } from '../../src/logger.js';
import { tempDir } from '../helpers/tmp.js';

const logger = createLogger({ level: 'silent' });

test('boundedMessage cuts at the limit and replaces control characters; boundedList names a few and counts the rest', (t) => {
  t.is(boundedMessage('x'.repeat(5000)).length, 1000);
  t.true(boundedMessage('x'.repeat(5000)).endsWith('…'));
  t.is(boundedMessage('a\u001b[2Jb\nc'), 'a [2Jb c');
  const ids = Array.from({ length: 80 }, (_, i) => `peer${i}`.padEnd(64, 'x'));
  const list = boundedList(ids, 5);
  t.true(list.endsWith('and 75 more'));
  t.true(list.length < 500);
});

test('an error record built from 1000 long peer ids still fits the DownloadInfo schema', (t) => {
  const ids = Array.from({ length: 1000 }, (_, i) => `peer${i}`.padEnd(64, 'x'));
  const message = boundedMessage(`gave up after 3 retries: no source reachable (${ids.join(', ')})`);
  const info = { downloadId: 'd1', target: 't', state: 'failed', status: 'failed', verifiedChunks: 0, totalChunks: 0, bytes: 0, totalBytes: 0, rateBps: 0, sources: 0, attempts: 0, startedAt: 1, error: { code: 'RETRIES_EXHAUSTED', message } };
  t.true(DownloadInfo.safeParse(info).success);
});

test('file-system errors keep their code but not the path: nothing of this machine reaches a reply', (t) => {
  const emfile = Object.assign(new Error("EMFILE: too many open files, open '/home/alice/secret/downloads/x.part'"), { code: 'EMFILE', syscall: 'open', path: '/home/alice/secret/downloads/x.part' });
  const e = toP2PError(emfile);
  t.is(e.code, 'IO_ERROR');
  t.is(e.message, 'EMFILE: too many open files (open)');
  t.is(e.cause, emfile, 'the path stays in the cause, for our own logs');
  const full = toP2PError(Object.assign(new Error("ENOSPC: no space left on device, write '/home/alice/x'"), { code: 'ENOSPC' }));
  t.is(full.code, 'DISK_FULL');
  t.false(full.message.includes('/'));
});

test('local errors that retrying cannot fix are marked fatal; remote trouble is not', (t) => {
  t.deepEqual([...LOCAL_FATAL_CODES].sort(), ['CONFIG_ERROR', 'DISK_FULL', 'IO_ERROR', 'UNSAFE_NAME']);
  t.true(isLocalFatal(Object.assign(new Error('x'), { code: 'EACCES' })));
  t.false(isLocalFatal(toP2PError(new Error('boom'))));
});

test('downloads.json: one bad record is skipped, the others are kept', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'downloads.json');
  const base = { target: 'f', state: 'lookup', status: 'running', verifiedChunks: 0, totalChunks: 0, bytes: 0, totalBytes: 0, rateBps: 0, sources: 0, attempts: 0, startedAt: 1 };
  const warnings: string[] = [];
  const log = { warn: (msg: string) => warnings.push(msg) } as unknown as Logger;
  await writeFile(
    file,
    JSON.stringify({
      version: 1,
      downloads: [
        { ...base, downloadId: 'a' },
        { ...base, downloadId: 'too-long', error: { code: 'X', message: 'y'.repeat(5000) } },
        { ...base, downloadId: 'c', maxRetries: 3 },
        null,
        { ...base, downloadId: '../evil' },
      ],
    }),
  );
  const loaded = await new DownloadHistory(file, log).load();
  t.deepEqual(
    loaded.map((d) => d.downloadId),
    ['a', 'c'],
  );
  t.is(warnings.filter((w) => w === 'download record skipped: invalid').length, 3);
  // a torn or foreign file gives none (and says so), never a crash
  await writeFile(file, '{"version":1,"downl');
  t.deepEqual(await new DownloadHistory(file, log).load(), []);
});

test('hash-cache.json: corrupt entries are dropped, good ones kept', (t) => {
  const good = { size: 10, mtimeMs: 1, chunkSize: 1024, hashes: 'ab'.repeat(32) };
  const cache = parseHashCache(
    {
      version: 1,
      entries: {
        'shared/good': good,
        'shared/bad-type': { ...good, hashes: 12345 },
        'shared/zero-chunk': { ...good, chunkSize: 0 },
        'shared/short': { ...good, size: 5000 },
        'shared/not-hex': { ...good, hashes: 'zz'.repeat(32) },
        'shared/null': null,
      },
    },
    logger,
  );
  t.deepEqual([...cache.keys()], ['shared/good']);
  t.is(parseHashCache({ version: 2, entries: {} }, logger).size, 0);
  t.is(parseHashCache([1, 2], logger).size, 0);
});

test('the fence is checked at every write: a fenced folder replaced by a symlink is refused, nothing lands outside', async (t) => {
  const root = await tempDir(t);
  const outside = await tempDir(t);
  const downloads = join(root, 'downloads');
  const chunks = join(downloads, 'chunks');
  await ensureRealDir(downloads);
  await ensureRealDir(chunks);
  t.teardown(() => unfence(root));
  await writeFileAtomic(join(chunks, 'ok.state'), 'fine');
  await checkFence(join(downloads, 'x.bin'));
  // swap downloads/ for a link to a folder outside, with the same layout inside
  await rename(downloads, join(root, 'moved'));
  await mkdir(join(outside, 'chunks'));
  await symlink(outside, downloads);
  await t.throwsAsync(writeFileAtomic(join(chunks, 'x.state'), 'nope'), { code: 'IO_ERROR', message: /downloads\/ was replaced by a symlink/ });
  await t.throwsAsync(openAppendNoFollow(join(downloads, 'x.log')), { code: 'IO_ERROR' });
  await t.throwsAsync(checkFence(join(chunks, 'x.part')), { code: 'IO_ERROR' });
  t.deepEqual(await readdir(join(outside, 'chunks')), []);
  t.deepEqual(await readdir(outside), ['chunks']);
  t.is(await readFile(join(root, 'moved', 'chunks', 'ok.state'), 'utf8'), 'fine');
});

test('the fence also refuses a fenced folder replaced by another real directory (inode changed)', async (t) => {
  const root = await tempDir(t);
  const meta = join(root, '.p2p');
  await ensureRealDir(meta);
  t.teardown(() => unfence(root));
  await rename(meta, join(root, 'old'));
  await mkdir(meta);
  await t.throwsAsync(writeFileAtomic(join(meta, 'downloads.json'), '{}'), { code: 'IO_ERROR', message: /\.p2p\/ was replaced/ });
});
