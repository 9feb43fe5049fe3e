// Processes come and go mid-download: a seeder killed half way (with another seeder, and alone
// then restarted), the only seeder frozen with SIGSTOP then resumed, the tracker and the broker
// killed mid-download. Every case ends with a byte-identical file; seeders are rate-capped so
// there is a "half way" to kill them at.
import test, { type ExecutionContext } from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startNats, type NatsServerHandle } from '../helpers/nats.js';
import { tempDir } from '../helpers/tmp.js';
import { lastJson, runCli, startDaemon, type CliResult, type Daemon } from '../helpers/processes.js';
import { Scope } from '../helpers/scope.js';
import { writtenOutside } from '../helpers/outside.js';
import { defaultChunks } from '../helpers/default-chunks.js';

const MiB = 1024 * 1024;
const CAP = String(6 * MiB); // bytes/s per seeder
const SLOW = { P2P_PEER_UPLOAD_BPS: CAP, P2P_DOWNLOAD_CHUNK_TIMEOUT_MS: '2000', P2P_DOWNLOAD_MAX_STRIKES: '2' };
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

interface World {
  nats: NatsServerHandle;
  root: string;
  prefix: string;
  cli(args: string[], timeoutMs?: number): ReturnType<typeof runCli>;
  tracker(): Promise<Daemon>;
  peer(id: string, env?: Record<string, string>): Promise<Daemon>;
  share(id: string, name: string, content: Buffer): Promise<void>;
}

async function world(t: Scope, prefix: string): Promise<World> {
  const nats = await startNats(t);
  const root = await tempDir(t, `p2p-${prefix}-`);
  const common = ['--nats', nats.url, '--prefix', prefix];
  return {
    nats,
    root,
    prefix,
    cli: (args, timeoutMs) => runCli([...args, ...common], { timeoutMs: timeoutMs ?? 120_000 }),
    tracker: () => startDaemon(t, ['tracker', ...common, '--log-file', join(root, 'tracker.jsonl')], { ready: /tracker ready/ }),
    peer: (id, env) => startDaemon(t, ['peer', '--dir', join(root, id), '--id', id, ...common], { ready: /peer ready/, env }),
    share: async (id, name, content) => {
      await mkdir(join(root, id, 'shared'), { recursive: true });
      await writeFile(join(root, id, 'shared', name), content);
    },
  };
}

/** Poll the downloader until its download of `name` has at least `chunks` verified chunks. */
async function untilVerified(w: World, peer: string, name: string, chunks: number): Promise<number> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const r = await w.cli(['status', '--peer', peer, '--json']);
    if (r.code === 0) {
      const d = lastJson<{ downloads: Array<{ name?: string; verifiedChunks: number; status: string }> }>(r).downloads.find((x) => x.name === name && x.status === 'running');
      if (d && d.verifiedChunks >= chunks) return d.verifiedChunks;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${name} never reached ${chunks} verified chunks on ${peer}`);
}


/** A tracker, capped seeders of one random file, a downloader `d`, and `p2p get` under way. */
async function downloadUnderWay(w: World, opts: { mib: number; seeders: string[]; downloaderEnv?: Record<string, string> }) {
  const tracker = await w.tracker();
  const content = randomBytes(opts.mib * MiB);
  const seeders: Daemon[] = [];
  for (const id of opts.seeders) {
    await w.share(id, 'film.bin', content);
    seeders.push(await w.peer(id, SLOW));
  }
  await w.peer('d', opts.downloaderEnv);
  return { tracker, content, seeders, get: w.cli(['get', 'film.bin', '--peer', 'd', '--json']) };
}

/** The download succeeded, the file is byte-identical, and nothing was written outside the peers' folders. */
async function assertIdentical(t: ExecutionContext, w: World, r: CliResult, content: Buffer): Promise<{ path: string; downloadId: string }> {
  t.is(r.code, 0, r.stderr);
  const out = lastJson<{ path: string; downloadId: string }>(r);
  t.is(sha(await readFile(out.path)), sha(content));
  t.deepEqual(writtenOutside(w.root, ['tracker.jsonl', 'bindings.json']), []);
  return out;
}

const scope = new Scope();
test.after.always(() => scope.run());

test.serial('a seeder killed (SIGKILL) half way: the download finishes from the other seeder', async (t) => {
  const w = await world(scope, 'kill-one');
  const { content, seeders, get } = await downloadUnderWay(w, { mib: 24, seeders: ['s1', 's2'] });
  const at = await untilVerified(w, 'd', 'film.bin', defaultChunks(8 * MiB));
  seeders[0]!.child.kill('SIGKILL');
  await assertIdentical(t, w, await get, content);
  t.log(`s1 killed at ${at}/${defaultChunks(24 * MiB)} chunks; finished from s2`);
});

test.serial('the only seeder killed half way, then restarted: the download waits and finishes, keeping its chunks', async (t) => {
  const w = await world(scope, 'kill-only');
  const { content, seeders, get } = await downloadUnderWay(w, { mib: 24, seeders: ['s1'] });
  const chunks = defaultChunks(24 * MiB);
  const at = await untilVerified(w, 'd', 'film.bin', defaultChunks(10 * MiB));
  seeders[0]!.child.kill('SIGKILL');
  await seeders[0]!.stop();
  await new Promise((r) => setTimeout(r, 2000));
  await w.peer('s1', SLOW);
  const out = await assertIdentical(t, w, await get, content);
  const served = lastJson<{ served: { chunks: number } }>(await w.cli(['status', '--peer', 's1', '--json'])).served.chunks;
  t.true(served <= chunks - at + 8, `after the restart s1 served only what was missing (${served} chunks; ${at} were verified before the kill)`);
  const trace = await w.cli(['trace', out.downloadId, '--peer', 'd']);
  t.regex(trace.stdout, /fetching → retrying/);
});

test.serial('the only seeder frozen (SIGSTOP) then resumed (SIGCONT): the download finishes', async (t) => {
  const w = await world(scope, 'stop-cont');
  const { content, seeders, get } = await downloadUnderWay(w, { mib: 16, seeders: ['s1'], downloaderEnv: { P2P_DOWNLOAD_CHUNK_TIMEOUT_MS: '1500' } });
  await untilVerified(w, 'd', 'film.bin', defaultChunks(5 * MiB));
  seeders[0]!.child.kill('SIGSTOP');
  await new Promise((r) => setTimeout(r, 6000));
  seeders[0]!.child.kill('SIGCONT');
  await assertIdentical(t, w, await get, content);
});

test.serial('the tracker killed mid-download: the download goes on; the restarted tracker is filled again', async (t) => {
  const w = await world(scope, 'kill-tracker');
  const { tracker, content, get } = await downloadUnderWay(w, { mib: 16, seeders: ['s1'] });
  await untilVerified(w, 'd', 'film.bin', defaultChunks(4 * MiB));
  tracker.child.kill('SIGKILL');
  await tracker.stop();
  await assertIdentical(t, w, await get, content);
  await w.tracker();
  const deadline = Date.now() + 5000;
  let sources = 0;
  while (Date.now() < deadline && sources < 2) {
    const ls = await w.cli(['ls', '--json']);
    sources = ls.code === 0 ? (lastJson<{ files: Array<{ name: string; sources: number }> }>(ls).files.find((f) => f.name === 'film.bin')?.sources ?? 0) : 0;
  }
  t.is(sources, 2, 'seeder and downloader are both sources again');
});

test.serial('the broker killed mid-download for 30 s and restarted on the same port: the download only loses time', async (t) => {
  const w = await world(scope, 'kill-broker');
  const { content, get } = await downloadUnderWay(w, { mib: 24, seeders: ['s1'] });
  await untilVerified(w, 'd', 'film.bin', defaultChunks(4 * MiB));
  w.nats.kill('SIGKILL');
  const downAt = Date.now();
  // the bound: an outage of up to 30 s
  await new Promise((r) => setTimeout(r, 30_000));
  await w.nats.restart();
  const r = await get;
  t.log(`broker down for ${Date.now() - downAt} ms; the CLI waited and reported the finished download`);
  await assertIdentical(t, w, r, content);
});
