// End to end, the swarm engine: a private nats-server, a tracker and peers as child processes.
// Downloaders serve each other the chunks they already have (partial seeding), a download
// killed with SIGKILL resumes on restart and fetches only what it lacked, and an upload cap holds.
import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startNats } from '../helpers/nats.js';
import { tempDir } from '../helpers/tmp.js';
import { lastJson, runCli, startDaemon, type Daemon } from '../helpers/processes.js';
import { Scope } from '../helpers/scope.js';

interface Status {
  served: { chunks: number; bytes: number };
  downloads: Array<{ downloadId: string; name?: string; status: string; verifiedChunks: number; totalChunks: number }>;
}
interface GetResult {
  downloadId: string;
  path: string;
  status: string;
  chunks: number;
  seconds: number;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const scope = new Scope();
test.after.always(() => scope.run());

let common: string[] = [];
let root = '';

test.before(async () => {
  const nats = await startNats(scope);
  root = await tempDir(scope, 'p2p-engine-');
  common = ['--nats', nats.url, '--prefix', 'engine'];
  await startDaemon(scope, ['tracker', ...common, '--log-file', join(root, 'tracker.jsonl')], { ready: /tracker ready/ });
});

const cli = (args: string[], timeoutMs?: number) => runCli([...args, ...common], { timeoutMs });

/** A peer in its own folder; `files` are put in shared/ before it starts. */
async function peer(id: string, opts: { files?: Record<string, Buffer>; flags?: string[]; env?: Record<string, string> } = {}): Promise<{ dir: string; daemon: Daemon }> {
  const dir = join(root, id);
  await mkdir(join(dir, 'shared'), { recursive: true });
  for (const [name, data] of Object.entries(opts.files ?? {})) await writeFile(join(dir, 'shared', name), data);
  const daemon = await startDaemon(scope, ['peer', '--dir', dir, '--id', id, ...(opts.flags ?? []), ...common], { ready: /peer ready/, env: opts.env });
  return { dir, daemon };
}

async function status(id: string): Promise<Status> {
  const r = await cli(['status', '--peer', id, '--json']);
  if (r.code !== 0) throw new Error(`status of ${id} failed: ${r.stderr}`);
  return lastJson<Status>(r);
}

/** Poll `probe` until it returns a value (not undefined), or fail after timeoutMs. */
async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function listed(name: string): Promise<void> {
  await until(`${name} to be listed`, async () => {
    const ls = lastJson<{ files: Array<{ name: string }> }>(await cli(['ls', '--json']));
    return ls.files.some((f) => f.name === name) ? true : undefined;
  });
}

async function get(name: string, id: string): Promise<{ code: number | null; out: GetResult; stderr: string }> {
  const r = await cli(['get', name, '--peer', id, '--json', '--timeout', '60'], 90_000);
  return { code: r.code, out: lastJson<GetResult>(r), stderr: r.stderr };
}

test.serial('partial seeding: two downloaders started together serve each other the chunks they have', async (t) => {
  const data = randomBytes(8 * 1024 * 1024);
  // 128 KiB chunks (64), and a seeder capped at 4 MiB/s: alone it needs 4 s to give both a copy
  await peer('seed1', { files: { 'swarm.bin': data }, flags: ['--upload-limit', '4M'], env: { P2P_PEER_MIN_CHUNK_SIZE: '131072' } });
  const d1 = await peer('down1');
  const d2 = await peer('down2');
  await listed('swarm.bin');
  const [a, b] = await Promise.all([get('swarm.bin', 'down1'), get('swarm.bin', 'down2')]);
  t.is(a.code, 0, a.stderr);
  t.is(b.code, 0, b.stderr);
  t.is(a.out.chunks, 64);
  const [s1, s2, seed] = [await status('down1'), await status('down2'), await status('seed1')];
  t.log(`seeder served ${seed.served.chunks}, down1 ${s1.served.chunks}, down2 ${s2.served.chunks} chunks; ${a.out.seconds} s and ${b.out.seconds} s`);
  t.true(s1.served.chunks > 0, 'down1 served chunks to down2 while downloading');
  t.true(s2.served.chunks > 0, 'down2 served chunks to down1 while downloading');
  t.true(seed.served.chunks < 2 * 64, 'the seeder did not have to send everything twice');
  t.is(seed.served.chunks + s1.served.chunks + s2.served.chunks >= 128, true);
  t.is(sha(await readFile(join(d1.dir, 'downloads', 'swarm.bin'))), sha(data));
  t.is(sha(await readFile(join(d2.dir, 'downloads', 'swarm.bin'))), sha(data));
});

test.serial('super-seeding: with one capped seeder and three downloaders the seeder sends each chunk about once', async (t) => {
  const data = randomBytes(12 * 1024 * 1024);
  const total = 96; // 128 KiB chunks; the seeder at 4 MiB/s is the scarce uplink: 3 s for one copy
  await peer('seed4', { files: { 'super.bin': data }, flags: ['--upload-limit', '4M'], env: { P2P_PEER_MIN_CHUNK_SIZE: '131072' } });
  const ids = ['down5', 'down6', 'down7'];
  const dirs = await Promise.all(ids.map(async (id) => (await peer(id)).dir));
  await listed('super.bin');
  const results = await Promise.all(ids.map((id) => get('super.bin', id)));
  for (const r of results) t.is(r.code, 0, r.stderr);
  t.is(results[0]!.out.chunks, total);
  const seed = (await status('seed4')).served.chunks;
  const shares = await Promise.all(ids.map(async (id) => (await status(id)).served.chunks));
  t.log(`seeder served ${seed} (${(seed / total).toFixed(2)} × the file), ${ids.map((id, i) => `${id} ${shares[i]}`).join(', ')}; ${results.map((r) => r.out.seconds).join(' s, ')} s`);
  t.true(seed >= total, 'every chunk left the seeder at least once');
  t.true(seed <= 1.3 * total, `the seeder sent ${seed} chunks for ${total}: neighbours should have served the rest`);
  t.true(seed + shares.reduce((a, b) => a + b, 0) >= ids.length * total, 'every downloader got every chunk from someone');
  for (const [i, id] of ids.entries()) t.true(shares[i]! > 0, `${id} served its neighbours`);
  for (const dir of dirs) t.is(sha(await readFile(join(dir, 'downloads', 'super.bin'))), sha(data));
});

test.serial('a download killed with SIGKILL resumes on restart and fetches only the chunks it lacked', async (t) => {
  const data = randomBytes(8 * 1024 * 1024);
  const total = 16; // 512 KiB chunks at 2 MiB/s (P2P_PEER_UPLOAD_BPS): about 4 s in all
  const pipeline = 6; // download.pipeline default: requests in flight at the kill
  await peer('seed2', { files: { 'resume.bin': data }, env: { P2P_PEER_UPLOAD_BPS: String(2 * 1024 * 1024), P2P_PEER_MIN_CHUNK_SIZE: '524288' } });
  const first = await peer('down3');
  await listed('resume.bin');
  const pending = cli(['get', 'resume.bin', '--peer', 'down3', '--json'], 60_000);
  const half = await until('half the chunks verified', async () => {
    const d = (await status('down3')).downloads.find((x) => x.name === 'resume.bin');
    return d && d.verifiedChunks >= total / 2 ? d : undefined;
  });
  await first.daemon.stop('SIGKILL');
  const orphan = await pending;
  t.not(orphan.code, 0, 'the waiting get notices the peer is gone');

  const again = await peer('down3');
  const done = await until('the resumed download to finish by itself', async () => {
    const d = (await status('down3')).downloads.find((x) => x.downloadId === half.downloadId);
    return d?.status === 'done' ? d : undefined;
  });
  t.is(done.verifiedChunks, total);
  const served = (await status('seed2')).served.chunks;
  t.log(`killed at ${half.verifiedChunks}/${total} verified; the seeder served ${served} chunks in all`);
  t.true(served >= total);
  t.true(served <= total + pipeline, `served ${served} > ${total} + ${pipeline}: verified chunks were fetched again`);
  t.true(served < 1.5 * total);
  t.is(sha(await readFile(join(again.dir, 'downloads', 'resume.bin'))), sha(data));
});

test.serial('an upload cap holds: 6 MiB at 2 MiB/s takes at least 2.4 s', async (t) => {
  const data = randomBytes(6 * 1024 * 1024);
  await peer('seed3', { files: { 'capped.bin': data }, flags: ['--upload-limit', '2M'] });
  const d = await peer('down4');
  await listed('capped.bin');
  const { code, out, stderr } = await get('capped.bin', 'down4');
  t.is(code, 0, stderr);
  t.log(`6 MiB in ${out.seconds} s`);
  t.true(out.seconds >= (6 / 2) * 0.8, `${out.seconds} s`);
  t.true(out.seconds < 15, `${out.seconds} s`);
  t.is(sha(await readFile(join(d.dir, 'downloads', 'capped.bin'))), sha(data));
});

test('bad cap flags are usage errors naming the flag', async (t) => {
  const dir = await tempDir(t);
  const r = await cli(['peer', '--dir', dir, '--upload-limit', 'fast']);
  t.is(r.code, 2);
  t.regex(r.stderr, /--upload-limit must be bytes per second/);
  const slots = await cli(['peer', '--dir', dir, '--upload-slots', 'many']);
  t.is(slots.code, 2);
  t.regex(slots.stderr, /--upload-slots/);
});
