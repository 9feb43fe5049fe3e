// End to end: a private nats-server, a tracker and three peers as child processes, real files.
// Covers the product's promises: exact bytes for awkward files, parallel multi-source download,
// re-serving, "already present", auto-retry until a file appears, and ls/status/trace output.
import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startNats } from '../helpers/nats.js';
import { tempDir } from '../helpers/tmp.js';
import { lastJson, runCli, startDaemon, type Daemon } from '../helpers/processes.js';
import { Scope } from '../helpers/scope.js';
import { defaultChunks } from '../helpers/default-chunks.js';

interface Swarm {
  url: string;
  prefix: string;
  root: string;
  peers: Record<'alice' | 'bob' | 'carol', { dir: string; daemon: Daemon }>;
  cli(args: string[], timeoutMs?: number): ReturnType<typeof runCli>;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let swarm: Swarm;
const t = new Scope();
test.after.always(() => t.run());

test.before(async () => {
  const nats = await startNats(t);
  const root = await tempDir(t, 'p2p-e2e-');
  const prefix = 'e2e';
  const common = ['--nats', nats.url, '--prefix', prefix];
  await startDaemon(t, ['tracker', ...common, '--log-file', join(root, 'tracker.jsonl')], { ready: /tracker ready/ });
  const peers = {} as Swarm['peers'];
  for (const id of ['alice', 'bob', 'carol'] as const) {
    const dir = join(root, id);
    await mkdir(join(dir, 'shared'), { recursive: true });
    peers[id] = { dir, daemon: undefined as unknown as Daemon };
  }
  // alice's files exist before she starts; the others arrive while she runs
  const a = join(peers.alice.dir, 'shared');
  await writeFile(join(a, 'big.bin'), randomBytes(20 * 1024 * 1024));
  await writeFile(join(a, 'empty.dat'), Buffer.alloc(0));
  await writeFile(join(a, 'odd.bin'), randomBytes(3 * 1024 * 1024 + 12_345));
  await writeFile(join(a, 'naïve résumé – ünïcödé 文件.txt'), randomBytes(200_000));
  const dual = randomBytes(20 * 1024 * 1024 + 7);
  await writeFile(join(a, 'dual.bin'), dual);
  await writeFile(join(peers.carol.dir, 'shared', 'dual.bin'), dual);
  for (const id of ['alice', 'bob', 'carol'] as const) {
    peers[id].daemon = await startDaemon(t, ['peer', '--dir', peers[id].dir, '--id', id, '--host', '127.0.0.1', ...common], { ready: /peer ready/ });
  }
  swarm = { url: nats.url, prefix, root, peers, cli: (args, timeoutMs) => runCli([...args, ...common], { timeoutMs }) };
  // every seeded file is listed before the tests start
  for (let i = 0; i < 100; i++) {
    const ls = lastJson<{ files: Array<{ name: string; sources: number }> }>(await swarm.cli(['ls', '--json']));
    if (ls.files.length >= 5 && ls.files.find((f) => f.name === 'dual.bin')?.sources === 2) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('swarm did not list the seeded files');
});

async function getJson(name: string, peer: string, extra: string[] = []) {
  const r = await swarm.cli(['get', name, '--peer', peer, '--json', '--timeout', '60', ...extra], 90_000);
  return { r, out: lastJson<{ downloadId: string; fileId: string; path: string; bytes: number; status: string; error?: { code: string } }>(r) };
}

async function served(peer: string): Promise<number> {
  const r = await swarm.cli(['status', '--peer', peer, '--json']);
  return lastJson<{ served: { chunks: number } }>(r).served.chunks;
}

for (const name of ['big.bin', 'empty.dat', 'odd.bin', 'naïve résumé – ünïcödé 文件.txt']) {
  test.serial(`downloads ${name} byte-identical`, async (t) => {
    const { r, out } = await getJson(name, 'bob');
    t.is(r.code, 0, r.stderr);
    t.is(out.status, 'done');
    t.is(out.path, join(swarm.peers.bob.dir, 'downloads', name));
    const original = await readFile(join(swarm.peers.alice.dir, 'shared', name));
    const copy = await readFile(out.path);
    t.is(copy.length, original.length);
    t.is(out.bytes, original.length);
    t.is(sha(copy), sha(original));
    t.regex(out.fileId, /^[0-9a-f]{64}$/);
  });
}

test.serial('a file on two seeders is fetched from both at once', async (t) => {
  const [aBefore, cBefore] = [await served('alice'), await served('carol')];
  const { r, out } = await getJson('dual.bin', 'bob');
  t.is(r.code, 0, r.stderr);
  const [aAfter, cAfter] = [await served('alice'), await served('carol')];
  t.true(aAfter > aBefore, 'alice served chunks of dual.bin');
  t.true(cAfter > cBefore, 'carol served chunks of dual.bin');
  t.is(aAfter - aBefore + (cAfter - cBefore), defaultChunks(20 * 1024 * 1024 + 7), 'every chunk fetched exactly once');
  t.is(sha(await readFile(out.path)), sha(await readFile(join(swarm.peers.carol.dir, 'shared', 'dual.bin'))));
});

test.serial('a second intent for a file the peer has is "already present"', async (t) => {
  const before = await served('alice');
  const { r, out } = await getJson('big.bin', 'bob');
  t.is(r.code, 0, r.stderr);
  t.is(out.status, 'already-present');
  t.is(out.path, join(swarm.peers.bob.dir, 'downloads', 'big.bin'));
  t.is(await served('alice'), before, 'nothing was fetched');
  // by fileId too, and for a file in shared/
  const own = await getJson(out.fileId, 'bob');
  t.is(own.out.status, 'already-present');
  const shared = await getJson('dual.bin', 'carol');
  t.is(shared.out.status, 'already-present');
  t.is(shared.out.path, join(swarm.peers.carol.dir, 'shared', 'dual.bin'));
});

test.serial('an intent for a file shared only 3 s later completes once it appears', async (t) => {
  const pending = getJson('later.bin', 'carol');
  // the file appears only once carol's download of it is waiting (a loaded machine can take
  // seconds to start the CLI: a fixed sleep would race it)
  const waitingSince = Date.now();
  for (;;) {
    const st = await swarm.cli(['status', '--peer', 'carol', '--json']);
    const dl = st.code === 0 ? lastJson<{ downloads: Array<{ target: string; state: string }> }>(st).downloads.find((d) => d.target === 'later.bin') : undefined;
    if (dl?.state === 'retrying') break;
    if (Date.now() - waitingSince > 30_000) throw new Error('carol never waited for later.bin');
    await new Promise((r) => setTimeout(r, 200));
  }
  await new Promise((r) => setTimeout(r, 3000 - Math.min(3000, Date.now() - waitingSince)));
  const content = randomBytes(2 * 1024 * 1024 + 1);
  const tmp = join(swarm.peers.alice.dir, 'later.tmp');
  await writeFile(tmp, content);
  await rename(tmp, join(swarm.peers.alice.dir, 'shared', 'later.bin'));
  const { r, out } = await pending;
  t.is(r.code, 0, r.stderr);
  t.is(out.status, 'done');
  t.is(sha(await readFile(out.path)), sha(content));
  const trace = await swarm.cli(['trace', out.downloadId, '--peer', 'carol', '--json']);
  t.is(trace.code, 0, trace.stderr);
  const entries = trace.stdout.trim().split('\n').map((l) => JSON.parse(l) as { to: string; event: string; final: boolean });
  const states = entries.map((e) => e.to);
  t.true(states.includes('retrying'), 'it retried while the file was missing');
  t.deepEqual(states.filter((s, i) => s !== states[i - 1]).slice(-3), ['fetching', 'joining', 'done']);
  t.true(entries[entries.length - 1]!.final);
  const human = await swarm.cli(['trace', out.downloadId, '--peer', 'carol']);
  t.regex(human.stdout, /lookup → retrying/);
  t.regex(human.stdout, /joining → done/);
});

test.serial('ls and status show what happened', async (t) => {
  const ls = lastJson<{ files: Array<{ name: string; size: number; fileId: string; sources: number }> }>(await swarm.cli(['ls', '--json']));
  const big = ls.files.find((f) => f.name === 'big.bin');
  t.truthy(big);
  t.is(big!.size, 20 * 1024 * 1024);
  t.is(big!.sources, 2, 'alice and bob (after downloading) are sources');
  const human = await swarm.cli(['ls']);
  t.regex(human.stdout, /NAME\s+SIZE\s+FILEID\s+SOURCES/);
  t.regex(human.stdout, /big\.bin\s+20\.0 MiB/);
  const st = lastJson<{ downloads: Array<{ name: string; status: string; verifiedChunks: number; totalChunks: number }>; shared: Array<{ name: string; origin: string }> }>(
    await swarm.cli(['status', '--peer', 'bob', '--json']),
  );
  const dl = st.downloads.find((d) => d.name === 'big.bin' && d.status === 'done');
  t.truthy(dl);
  t.is(dl!.verifiedChunks, dl!.totalChunks);
  t.truthy(st.shared.find((f) => f.name === 'big.bin' && f.origin === 'downloads'));
  const statusHuman = await swarm.cli(['status', '--peer', 'bob']);
  t.regex(statusHuman.stdout, /downloads \(\d+\):/);
});

test.serial('the downloader serves the file on to a third peer', async (t) => {
  // alice leaves: bob (who downloaded big.bin) is its only source now
  await swarm.peers.alice.daemon.stop();
  const before = await served('bob');
  const { r, out } = await getJson('big.bin', 'carol');
  t.is(r.code, 0, r.stderr);
  t.is(out.status, 'done');
  t.is(await served('bob') - before, defaultChunks(20 * 1024 * 1024), 'bob served every chunk');
  t.is(sha(await readFile(out.path)), sha(await readFile(join(swarm.peers.bob.dir, 'downloads', 'big.bin'))));
});

test.serial('clear errors: unknown peer, unknown file after the timeout', async (t) => {
  const noPeer = await swarm.cli(['get', 'big.bin', '--peer', 'nobody']);
  t.is(noPeer.code, 4);
  t.regex(noPeer.stderr, /no running peer with id "nobody"/);
  const missing = await swarm.cli(['get', 'no-such-file.bin', '--peer', 'bob', '--timeout', '2', '--json']);
  t.is(missing.code, 3);
  t.regex(missing.stderr, /not found in the swarm within 2 s/);
  t.is(lastJson(missing).status, 'timeout');
});
