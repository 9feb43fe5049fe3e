// The file-system fence: nothing is written outside a peer's downloads/ and .p2p/, including
// through symlinks planted in them.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { lstatSync } from 'node:fs';
import { mkdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect, type NatsConnection } from 'nats';
import { startNats } from '../helpers/nats.js';
import { tempDir } from '../helpers/tmp.js';
import { lastJson, runCli, startDaemon } from '../helpers/processes.js';
import { Scope } from '../helpers/scope.js';
import { writtenOutside } from '../helpers/outside.js';
import { chooseChunkSize, fileIdOf, hashFile } from '../../src/store/manifest.js';
import { decodeRaw, encode } from '../../src/protocol/codec.js';
import { subjects } from '../../src/protocol/subjects.js';

const scope = new Scope();
test.after.always(() => scope.run());
const prefix = 'fence';
let url = '';
let root = '';
let outside = '';
let nc: NatsConnection;
const cli = (args: string[]) => runCli([...args, '--nats', url, '--prefix', prefix], { timeoutMs: 60_000 });

test.before(async () => {
  const nats = await startNats(scope);
  url = nats.url;
  root = await tempDir(scope, 'p2p-fence-');
  outside = await tempDir(scope, 'p2p-outside-');
  await startDaemon(scope, ['tracker', '--nats', url, '--prefix', prefix, '--log-file', join(root, 'tracker.jsonl')], { ready: /tracker ready/ });
  await mkdir(join(root, 'alice', 'shared'), { recursive: true });
  for (const name of ['one.bin', 'two.bin', 'three.bin']) await writeFile(join(root, 'alice', 'shared', name), randomBytes(300_000));
  await startDaemon(scope, ['peer', '--dir', join(root, 'alice'), '--id', 'alice', '--nats', url, '--prefix', prefix], { ready: /peer ready/ });
  await startDaemon(scope, ['peer', '--dir', join(root, 'bob'), '--id', 'bob', '--nats', url, '--prefix', prefix], { ready: /peer ready/ });
  nc = await connect({ servers: url });
  scope.teardown(() => nc.close());
});

async function victim(name: string): Promise<{ path: string; content: Buffer }> {
  const path = join(outside, name);
  const content = Buffer.from(`precious ${name}\n`);
  await writeFile(path, content);
  return { path, content };
}

test.serial('a peer refuses to start when downloads/ is a symlink', async (t) => {
  const dir = join(root, 'carol');
  await mkdir(join(dir, 'shared'), { recursive: true });
  await symlink(outside, join(dir, 'downloads'));
  const r = await runCli(['peer', '--dir', dir, '--id', 'carol', '--nats', url, '--prefix', prefix], { timeoutMs: 20_000 });
  t.not(r.code, 0);
  t.regex(r.stderr, /downloads must be a real directory \(it is a symlink\)/);
});

test.serial('a symlink planted at the final name is left alone: the file lands beside it', async (t) => {
  const v = await victim('final-target');
  await symlink(v.path, join(root, 'bob', 'downloads', 'one.bin'));
  const r = await cli(['get', 'one.bin', '--peer', 'bob', '--json']);
  t.is(r.code, 0, r.stderr);
  t.is(lastJson<{ path: string }>(r).path, join(root, 'bob', 'downloads', 'one (1).bin'));
  t.true((await readFile(v.path)).equals(v.content), 'the link target is untouched');
  t.is(await readlink(join(root, 'bob', 'downloads', 'one.bin')), v.path);
});

test.serial('a symlink planted as the temp file is refused, not followed', async (t) => {
  const v = await victim('part-target');
  const path = join(root, 'alice', 'shared', 'two.bin');
  const fileId = fileIdOf(await hashFile(path, chooseChunkSize(300_000)));
  await symlink(v.path, join(root, 'bob', 'downloads', 'chunks', `${fileId}.part`));
  const r = await cli(['get', 'two.bin', '--peer', 'bob', '--json', '--retries', '0']);
  t.not(r.code, 0);
  t.regex(lastJson<{ error: { code: string } }>(r).error.code, /IO_ERROR|RETRIES_EXHAUSTED/);
  t.true((await readFile(v.path)).equals(v.content), 'the link target is untouched');
  t.true(lstatSync(join(root, 'bob', 'downloads', 'chunks', `${fileId}.part`)).isSymbolicLink());
});

test.serial('a symlink planted as a trace file is refused, not followed', async (t) => {
  const v = await victim('trace-target');
  await symlink(v.path, join(root, 'bob', '.p2p', 'traces', 'dl-planted.jsonl'));
  const reply = decodeRaw((await nc.request(subjects(prefix).intent('bob'), encode({ v: 1, target: 'three.bin', downloadId: 'dl-planted' }), { timeout: 5000 })).data) as { ok: boolean; code?: string };
  t.false(reply.ok);
  t.is(reply.code, 'IO_ERROR');
  t.true((await readFile(v.path)).equals(v.content), 'the link target is untouched');
  const again = await cli(['get', 'three.bin', '--peer', 'bob', '--json']);
  t.is(again.code, 0, 'the peer keeps working');
  t.deepEqual(writtenOutside(root, ['tracker.jsonl', 'bindings.json']), [], 'nothing written outside the peers\' folders');
  t.deepEqual((await import('node:fs')).readdirSync(outside).sort(), ['final-target', 'part-target', 'trace-target'], 'no new file outside');
});
