// End to end with the built CLI: `p2p keygen` writes a 0600 key and never overwrites; a seeder
// started with --swarm-key-file (and --tls-cert/--tls-key when openssl can make certificates)
// serves a peer given the same key by env, while a peer without the key fails with a clear error.
import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { haveOpenssl, makeCa } from '../helpers/certs.js';
import { startNats } from '../helpers/nats.js';
import { lastJson, runCli, startDaemon } from '../helpers/processes.js';
import { Scope } from '../helpers/scope.js';
import { tempDir } from '../helpers/tmp.js';

const scope = new Scope();
test.after.always(() => scope.run());
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('keygen writes a random 32-byte key, mode 0600, and refuses to overwrite it', async (t) => {
  const dir = await tempDir(t);
  const out = join(dir, 'swarm.key');
  const first = await runCli(['keygen', '--out', out]);
  t.is(first.code, 0, first.stderr);
  const text = await readFile(out, 'utf8');
  t.regex(text, /^[0-9a-f]{64}\n$/);
  t.is((await stat(out)).mode & 0o777, 0o600);
  const again = await runCli(['keygen', '--out', out]);
  t.is(again.code, 2);
  t.regex(again.stderr, /already exists: not overwriting/);
  t.is(await readFile(out, 'utf8'), text, 'the key is untouched');
  const other = join(dir, 'other.key');
  t.is((await runCli(['keygen', '--out', other])).code, 0);
  t.not(await readFile(other, 'utf8'), text, 'every key is new');
});

test('a swarm with a key (and TLS): the keyed peer downloads, the keyless one is told why it cannot', async (t) => {
  const nats = await startNats(scope);
  const root = await tempDir(scope, 'p2p-key-e2e-');
  const common = ['--nats', nats.url, '--prefix', 'keyed'];
  const key = join(root, 'swarm.key');
  t.is((await runCli(['keygen', '--out', key])).code, 0);
  const tls = haveOpenssl() ? await makeCa(scope, 'e2e ca') : undefined;
  if (!tls) t.log('openssl not found: this run checks the swarm key without TLS');
  const cert = tls ? await tls.issue('seed') : undefined;
  const content = randomBytes(3 * 1024 * 1024 + 5);
  await mkdir(join(root, 'seed', 'shared'), { recursive: true });
  await writeFile(join(root, 'seed', 'shared', 'secret.bin'), content);

  await startDaemon(scope, ['tracker', ...common, '--log-file', join(root, 'tracker.jsonl')], { ready: /tracker ready/ });
  const seedTls = cert ? ['--tls-cert', cert.cert, '--tls-key', cert.key] : [];
  await startDaemon(scope, ['peer', '--dir', join(root, 'seed'), '--id', 'seed', '--swarm-key-file', key, ...seedTls, ...common], { ready: /peer ready/ });
  const caEnv: Record<string, string> = tls ? { P2P_PEER_TLS_CA: tls.cert } : {};
  await startDaemon(scope, ['peer', '--dir', join(root, 'friend'), '--id', 'friend', ...common], { ready: /peer ready/, env: { ...caEnv, P2P_PEER_SWARM_KEY_FILE: key } });
  await startDaemon(scope, ['peer', '--dir', join(root, 'stranger'), '--id', 'stranger', ...common], { ready: /peer ready/, env: caEnv });

  const friend = await runCli(['get', 'secret.bin', '--peer', 'friend', '--json', '--timeout', '30', ...common], { timeoutMs: 60_000 });
  t.is(friend.code, 0, friend.stderr);
  const done = lastJson<{ status: string; path: string }>(friend);
  t.is(done.status, 'done');
  t.is(sha(await readFile(done.path)), sha(content));

  const stranger = await runCli(['get', 'secret.bin', '--peer', 'stranger', '--json', '--retries', '0', '--timeout', '30', ...common], { timeoutMs: 60_000 });
  t.is(stranger.code, 1, stranger.stderr); // RETRIES_EXHAUSTED: a failed download exits 1 (issue 10)
  const failed = lastJson<{ status: string; error?: { code: string; message: string } }>(stranger);
  t.is(failed.status, 'failed');
  t.regex(failed.error?.message ?? '', /requires a swarm key/);
});
