// A download's trace file is held open only while entries come (issue 9, class 6): closed when
// idle, reopened (with O_NOFOLLOW, so a planted symlink is refused at every open) by the next
// entry, and let go at once on close. Real files in a temp dir; no sockets.
import test from 'ava';
import { readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TraceLog, readTrace } from '../../src/store/traces.js';
import { tempDir } from '../helpers/tmp.js';

const entry = (seq: number, final = false) => ({ downloadId: 'dl-t', seq, ts: 1000 + seq, from: 'a', to: 'b', event: 'e', verifiedChunks: 0, totalChunks: 1, bytes: 0, sources: 0, retries: 0, attempts: 0, final });

/** Resolves once `check` holds, or fails after `ms`. */
async function until(check: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('the file is closed when idle, reopened by the next entry, and let go at once on close', async (t) => {
  const dir = await tempDir(t);
  const errors: Error[] = [];
  const log = new TraceLog(dir, 'dl-t', (e) => errors.push(e), 50);
  t.true(log.isOpen, 'opened at start (a refused path throws before the download starts)');
  log.append(entry(0));
  await until(() => !log.isOpen);
  log.append(entry(1));
  t.true(log.isOpen, 'reopened by an entry');
  await log.close();
  t.false(log.isOpen, 'closed at once');
  log.append(entry(2, true));
  const trace = await readTrace(dir, 'dl-t', 10);
  t.deepEqual(trace.entries.map((e) => e.seq), [0, 1], 'entries after close are dropped');
  t.is(trace.total, 2);
  t.deepEqual(errors, []);
});

test('a symlink planted while the file is closed is refused at the reopen, its target untouched', async (t) => {
  const dir = await tempDir(t);
  const outside = join(await tempDir(t), 'target');
  await writeFile(outside, 'keep');
  const errors: Error[] = [];
  const log = new TraceLog(dir, 'dl-t', (e) => errors.push(e), 50);
  log.append(entry(0));
  await until(() => !log.isOpen);
  await rm(join(dir, 'dl-t.jsonl'));
  await symlink(outside, join(dir, 'dl-t.jsonl'));
  log.append(entry(1));
  t.is(errors.length, 1);
  t.regex((errors[0] as NodeJS.ErrnoException).code ?? '', /ELOOP/);
  t.is(await readFile(outside, 'utf8'), 'keep');
  await log.close();
});

test('readTrace pages from an entry: `from` and `max` pick the slice, `truncated` counts what came before', async (t) => {
  const dir = await tempDir(t);
  const log = new TraceLog(dir, 'dl-t', () => undefined);
  for (let i = 0; i < 25; i++) log.append(entry(i, i === 24));
  await log.close();
  const last = await readTrace(dir, 'dl-t', 10);
  t.deepEqual([last.entries[0]!.seq, last.entries.length, last.truncated, last.total, last.finished], [15, 10, 15, 25, true]);
  const page = await readTrace(dir, 'dl-t', 10, 5);
  t.deepEqual([page.entries[0]!.seq, page.entries.length, page.truncated], [5, 10, 5]);
  // a byte budget stops a page early, but never before its first entry; `end` says where to go on
  const tiny = await readTrace(dir, 'dl-t', 10, 3, 1);
  t.deepEqual([tiny.entries.length, tiny.entries[0]!.seq, tiny.end], [1, 3, 4]);
  const past = await readTrace(dir, 'dl-t', 10, 40);
  t.deepEqual([past.entries.length, past.truncated], [0, 25]);
});
