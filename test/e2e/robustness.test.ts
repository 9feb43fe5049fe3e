// Hostile and unlucky cases against real processes: a crafted announce with a path-traversal
// name, garbage on the peer's subjects, a peer killed with SIGKILL (dropped after the TTL), a peer
// leaving cleanly (dropped at once), and `p2p trace --follow` streaming a download live.
import test from 'ava';
import { randomBytes } from "node:crypto";
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { connect, type NatsConnection } from 'nats';
import { startNats } from '../helpers/nats.js';
import { tempDir } from '../helpers/tmp.js';
import { CLI, FAST_ENV, lastJson, runCli, startDaemon, type Daemon } from '../helpers/processes.js';
import { Scope } from '../helpers/scope.js';
import { writtenOutside } from '../helpers/outside.js';
import { ChunkServer } from '../../src/transport/chunk-server.js';
import { chooseChunkSize, fileIdOf, hashFile } from '../../src/store/manifest.js';
import { encode, decodeRaw } from '../../src/protocol/codec.js';
import { subjects } from '../../src/protocol/subjects.js';
import { createLogger } from '../../src/logger.js';
import { PeerIdentity } from '../../src/identity.js';

const scope = new Scope();
test.after.always(() => scope.run());

let url = '';
let root = '';
let nc: NatsConnection;
let bob: Daemon;
const prefix = 'robust';
const s = subjects(prefix);
const cli = (args: string[], timeoutMs?: number) => runCli([...args, '--nats', url, '--prefix', prefix], { timeoutMs });

test.before(async () => {
  const nats = await startNats(scope);
  url = nats.url;
  root = await tempDir(scope, 'p2p-robust-');
  await startDaemon(scope, ['tracker', '--nats', url, '--prefix', prefix, '--log-file', join(root, 'tracker.jsonl')], { ready: /tracker ready/ });
  await mkdir(join(root, 'bob'), { recursive: true });
  bob = await startDaemon(scope, ['peer', '--dir', join(root, 'bob'), '--id', 'bob', '--nats', url, '--prefix', prefix], { ready: /peer ready/ });
  nc = await connect({ servers: url });
  scope.teardown(() => nc.close());
});

test.serial('a crafted announce with a traversal name cannot write outside downloads/', async (t) => {
  // the test process plays a malicious peer: it serves a real file but names it "../../../escape.bin"
  const evilDir = await tempDir(scope, 'p2p-evil-');
  const content = randomBytes(300_000);
  const path = join(evilDir, 'payload');
  await writeFile(path, content);
  const manifest = await hashFile(path, chooseChunkSize(content.length));
  const fileId = fileIdOf(manifest);
  const server = new ChunkServer(
    { logger: createLogger({ level: 'silent' }), resolve: (id) => (id === fileId ? { fileId, path, manifest } : undefined) },
    { host: '127.0.0.1', port: 0, maxConnections: 8, idleTimeoutMs: 10_000 },
  );
  const { port } = await server.start();
  scope.teardown(() => server.stop());
  const name = '../../../escape.bin';
  const payload = encode({ v: 1, peerId: 'mallory', endpoint: { host: '127.0.0.1', port }, replace: true, files: [{ fileId, name, size: content.length, chunkSize: manifest.chunkSize, chunkCount: manifest.hashes.length }], removed: [] });
  const headers = PeerIdentity.ephemeral().sign(s.announce, payload);
  const reply = decodeRaw((await nc.request(s.announce, payload, { headers, timeout: 3000 })).data) as { ok: boolean };
  t.true(reply.ok);
  const r = await cli(['get', name, '--peer', 'bob', '--json', '--timeout', '30']);
  t.is(r.code, 0, r.stderr);
  const out = lastJson<{ path: string }>(r);
  t.is(out.path, join(root, 'bob', 'downloads', 'escape.bin'));
  t.true((await readFile(out.path)).equals(content));
  t.false(existsSync(join(root, 'escape.bin')));
  t.false(existsSync(join(root, '..', 'escape.bin')));
  t.deepEqual((await readdir(join(root, 'bob'))).sort(), ['.p2p', 'downloads', 'shared']);
  t.deepEqual(writtenOutside(root, ['tracker.jsonl', 'bindings.json']), []);
});

test.serial('garbage on the peer subjects gets error replies or is dropped; the peer keeps serving', async (t) => {
  const garbage = [Buffer.from('not msgpack at all'), encode({ v: 1 }), encode({ v: 99, target: 'x' }), encode({ v: 1, target: 'x', downloadId: '../../x' }), Buffer.alloc(0)];
  for (const g of garbage) {
    const reply = decodeRaw((await nc.request(s.intent('bob'), g, { timeout: 3000 })).data) as { ok: boolean; code: string; message: string };
    t.false(reply.ok);
    t.true(['PROTOCOL_ERROR', 'UNSUPPORTED_VERSION'].includes(reply.code), reply.code);
    t.truthy(reply.message);
  }
  const deep = Buffer.concat([Buffer.alloc(100_000, 0x91), Buffer.from([0xc0])]);
  const r = decodeRaw((await nc.request(s.status('bob'), deep, { timeout: 3000 })).data) as { ok: boolean; code: string };
  t.is(r.code, 'PROTOCOL_ERROR');
  nc.publish(s.hello, Buffer.from([0xc1, 0xff, 0x00]));
  nc.publish(s.bye, encode({ v: 1, peerId: '../../../' }));
  const st = await cli(['status', '--peer', 'bob', '--json']);
  t.is(st.code, 0, st.stderr);
  t.true(bob.lines.some((l) => /request refused/.test(l)), 'refusals are logged');
});

test.serial('a file that never appears fails after the configured retries, with a clear error', async (t) => {
  const r = await cli(['get', 'never-there.bin', '--peer', 'bob', '--retries', '2', '--json']);
  t.is(r.code, 1, r.stderr); // a failed download exits 1, as the README's exit-code table says (issue 10)
  const out = lastJson<{ status: string; error: { code: string; message: string } }>(r);
  t.is(out.status, 'failed');
  t.is(out.error.code, 'RETRIES_EXHAUSTED');
  t.regex(r.stderr, /gave up after 2 retries: not found/);
});

test.serial('trace --follow streams a download live until the machine ends', async (t) => {
  const get = cli(['get', 'appears-later.bin', '--peer', 'bob', '--json', '--timeout', '60'], 90_000);
  // find the running download's id, then follow it
  let id: string | undefined;
  for (let i = 0; i < 50 && !id; i++) {
    const st = lastJson<{ downloads: Array<{ downloadId: string; target: string; status: string }> }>(await cli(['status', '--peer', 'bob', '--json']));
    id = st.downloads.find((d) => d.target === 'appears-later.bin' && d.status === 'running')?.downloadId;
    if (!id) await new Promise((r) => setTimeout(r, 100));
  }
  t.truthy(id);
  const follow = spawn(process.execPath, [CLI, 'trace', id!, '--peer', 'bob', '--follow', '--nats', url, '--prefix', prefix], { env: { ...process.env, ...FAST_ENV } });
  let followed = '';
  follow.stdout.on('data', (d) => (followed += d));
  const followExit = new Promise<number | null>((r) => follow.once('exit', r));
  scope.teardown(() => follow.kill('SIGKILL'));
  // a latch, not a fixed sleep: the CLI's start-up time varies with the machine's load
  for (let i = 0; i < 300 && !/lookup → retrying/.test(followed); i++) await new Promise((r) => setTimeout(r, 100));
  t.regex(followed, /lookup → retrying/, 'earlier transitions shown at once');
  t.notRegex(followed, /→ done/);
  // now a peer shares it
  const carolDir = join(root, 'carol');
  await mkdir(join(carolDir, 'shared'), { recursive: true });
  await writeFile(join(carolDir, 'shared', 'appears-later.bin'), randomBytes(1_500_000));
  const carol = await startDaemon(scope, ['peer', '--dir', carolDir, '--id', 'carol', '--nats', url, '--prefix', prefix], { ready: /peer ready/ });
  const r = await get;
  t.is(r.code, 0, r.stderr);
  t.is(await followExit, 0, 'trace --follow ends by itself when the machine ends');
  t.regex(followed, /joining → done/);
  await carol.stop();
});

test.serial('a peer that leaves cleanly is dropped at once; one killed with SIGKILL after the TTL', async (t) => {
  const sourcesOf = async (name: string) => {
    const ls = lastJson<{ files: Array<{ name: string; sources: number }> }>(await cli(['ls', '--json']));
    return ls.files.find((f) => f.name === name)?.sources ?? 0;
  };
  const daveDir = join(root, 'dave');
  await mkdir(join(daveDir, 'shared'), { recursive: true });
  await writeFile(join(daveDir, 'shared', 'dave.bin'), randomBytes(10_000));
  const dave = await startDaemon(scope, ['peer', '--dir', daveDir, '--id', 'dave', '--nats', url, '--prefix', prefix], { ready: /peer ready/ });
  t.is(await sourcesOf('dave.bin'), 1);
  await dave.stop('SIGTERM');
  t.is(await sourcesOf('dave.bin'), 0, 'bye drops the peer at once');

  const erin = await startDaemon(scope, ['peer', '--dir', daveDir, '--id', 'erin', '--nats', url, '--prefix', prefix], { ready: /peer ready/ });
  t.is(await sourcesOf('dave.bin'), 1);
  const killedAt = Date.now();
  erin.child.kill('SIGKILL');
  let gone = 0;
  while (Date.now() - killedAt < 15_000) {
    if ((await sourcesOf('dave.bin')) === 0) {
      gone = Date.now() - killedAt;
      break;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  t.true(gone > 0, 'the killed peer expired');
  t.true(gone >= 3000, `not before the TTL (4 s here): ${gone} ms`);
  t.log(`killed peer dropped after ${gone} ms (TTL 4000 ms)`);
});

