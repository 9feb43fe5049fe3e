// Faults across hosts, in the LAN lab with real processes: a 3-node NATS cluster (each node on its
// own host, JetStream R3), trackers on the KV store, peers on their own hosts. The NATS node a
// downloader uses is killed mid-download and mid-lookup-storm; one of two trackers is killed
// during lookups and announces; one of two seeders is cut off mid-download and healed; one NATS
// node is partitioned off and healed.
import test, { type ExecutionContext } from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { Lan, type LabProcess } from '../helpers/lan.js';
import { labCli, labDaemon, labNats, labTest, natsUrls, share, NATS_PORT } from '../helpers/lab-swarm.js';
import { lastJson } from '../helpers/processes.js';
import { tempDir } from '../helpers/tmp.js';

const MiB = 1024 * 1024;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const STORM = fileURLToPath(new URL('../../dist/bench/procs/lookup-storm.js', import.meta.url));
const lab = await labTest(test);
const NODES = ['n1', 'n2', 'n3'];

interface StormResult {
  lookups: number;
  lookupFailures: number;
  firstAttemptFailures: number;
  announces: number;
  announceFailures: number;
  acked: string[];
  errors: string[];
}

interface World {
  lan: Lan;
  root: string;
  nats: Map<string, LabProcess>;
  urls: string;
  common: string[];
  tracker(host: string, env?: Record<string, string>): Promise<LabProcess>;
  peer(host: string, env?: Record<string, string>): Promise<LabProcess>;
  cli(host: string, args: string[], timeoutMs?: number): ReturnType<typeof labCli>;
  storm(host: string, args: string[]): LabProcess;
}

/** The lab, a 3-node cluster on n1..n3, and helpers to start the product in it. */
async function world(t: ExecutionContext, hosts: string[]): Promise<World> {
  // the directory first: teardowns run last-in first-out, so it goes after every process stopped
  const root = await tempDir(t, 'p2p-lanf-');
  const lan = await Lan.create(t, { hosts: [...NODES, ...hosts] });
  const nats = new Map<string, LabProcess>();
  await Promise.all(NODES.map(async (n) => nats.set(n, await labNats(lan, n, root, { cluster: NODES }))));
  const urls = natsUrls(lan, NODES);
  const common = ['--nats', urls, '--prefix', 'lanf'];
  return {
    lan,
    root,
    nats,
    urls,
    common,
    tracker: (host, env) =>
      labDaemon(lan, host, ['tracker', ...common, '--store', 'kv', '--replicas', '3', '--id', host, '--log-file', join(root, `${host}.jsonl`)], /tracker ready/, env),
    peer: (host, env) => labDaemon(lan, host, ['peer', '--dir', join(root, host), '--id', host, '--host', lan.host(host).addr, ...common], /peer ready/, env),
    cli: (host, args, timeoutMs) => labCli(lan, host, [...args, ...common], { timeoutMs: timeoutMs ?? 90_000 }),
    storm: (host, args) => lan.spawn(host, process.execPath, [STORM, '--prefix', 'lanf', ...args], { label: `storm@${host}` }),
  };
}

/** The lab host of the NATS node a process (by pid) in `host` is connected to. */
async function connectedNode(w: World, host: string, pid: number): Promise<string> {
  const out = await w.lan.exec(host, 'ss', ['-tnpH', 'state', 'established', `( dport = :${NATS_PORT} )`]);
  const line = out.split('\n').find((l) => l.includes(`pid=${pid},`));
  const addr = line && /\s(\d+\.\d+\.\d+\.\d+):4222\s/.exec(line)?.[1];
  const node = NODES.find((n) => w.lan.host(n).addr === addr);
  if (!node) throw new Error(`pid ${pid} in ${host} has no NATS connection:\n${out}`);
  return node;
}

async function stormResult(p: LabProcess): Promise<StormResult> {
  await p.waitFor(/^\{/, 60_000);
  const line = p.stdout.find((l) => l.startsWith('{'));
  if (!line) throw new Error(`storm printed no result:\n${p.lines.join('\n')}`);
  return JSON.parse(line) as StormResult;
}

/** Poll `p2p status` until the running download of `name` has at least one verified chunk. */
async function underWay(w: World, host: string, name: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const r = await w.cli(host, ['status', '--peer', host, '--json']);
    if (r.code === 0) {
      const d = lastJson<{ downloads: Array<{ name?: string; verifiedChunks: number; status: string }> }>(r).downloads.find((x) => x.name === name);
      if (d && d.status === 'running' && d.verifiedChunks >= 1) return;
      if (d && d.status !== 'running') throw new Error(`${name} was ${d.status} before the fault could be injected: slow the seeders down`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${name} never got under way on ${host}`);
}

/** Every name listed by `p2p ls` (through whichever tracker answers). */
async function listed(w: World, host: string): Promise<{ names: Set<string>; peers: number }> {
  const r = await w.cli(host, ['ls', '--json']);
  if (r.code !== 0) throw new Error(`ls failed: ${r.stderr}`);
  const out = lastJson<{ files: Array<{ name: string }>; peers: number }>(r);
  return { names: new Set(out.files.map((f) => f.name)), peers: out.peers };
}

lab('kill -9 the NATS node the downloader is connected to, mid-download and mid-lookup-storm: byte-identical, no lookup lost', async (t) => {
  const w = await world(t, ['trk', 'seed', 'leech']);
  await w.tracker('trk');
  await w.tracker('trk');
  const content = randomBytes(6 * MiB);
  await share(w.root, 'seed', 'film.bin', content);
  await w.peer('seed', { P2P_PEER_UPLOAD_BPS: String(1.5 * MiB), P2P_PEER_MIN_CHUNK_SIZE: String(256 * 1024) });
  const leech = await w.peer('leech');
  const victim = await connectedNode(w, 'leech', leech.child.pid!);
  // the storm starts on the same node (servers in the order given, no shuffling)
  const order = [victim, ...NODES.filter((n) => n !== victim)];
  const storm = w.storm('leech', ['--nats', natsUrls(w.lan, order), '--name', 'film.bin', '--ms', '6000', '--concurrency', '4']);
  await storm.waitFor(new RegExp(`ready .*${w.lan.host(victim).addr.replace(/\./g, '\\.')}`));
  const get = w.cli('leech', ['get', 'film.bin', '--peer', 'leech', '--json']);
  await underWay(w, 'leech', 'film.bin');
  await storm.waitFor(/tick/);
  w.nats.get(victim)!.kill('SIGKILL');
  t.log(`killed ${victim}, the node of the downloader and the storm`);

  const r = await get;
  t.is(r.code, 0, r.stderr);
  t.is(sha(await readFile(lastJson<{ path: string }>(r).path)), sha(content), 'byte-identical');
  const s = await stormResult(storm);
  t.log(`storm: ${s.lookups} lookups, ${s.firstAttemptFailures} failed first time (in flight at the kill), ${s.lookupFailures} lost; ${s.errors.slice(0, 3).join(' | ')}`);
  t.true(s.lookups > 50);
  t.is(s.lookupFailures, 0, 'every lookup answered (retried like the CLI)');
  t.true(s.firstAttemptFailures <= 4, `no more first-attempt failures than requests in flight (4): ${s.firstAttemptFailures}`);
  t.not(await connectedNode(w, 'leech', leech.child.pid!), victim, 'the downloader moved to another node');
});

lab('kill -9 one of two KV trackers during lookups and announces: no registration lost, and all of it survives every tracker stopping', async (t) => {
  const w = await world(t, ['t1', 't2', 'client']);
  const long = { P2P_TRACKER_TTL_MS: '600000' };
  const t1 = await w.tracker('t1', long);
  const t2 = await w.tracker('t2', long);
  const storm = w.storm('client', ['--nats', w.urls, '--announce', '--id', 'sp', '--name', 'none.bin', '--ms', '4000', '--concurrency', '4']);
  await storm.waitFor(/tick 200/);
  t1.kill('SIGKILL');
  const s = await stormResult(storm);
  t.log(`storm: ${s.announces} announces (${s.acked.length} acked, ${s.announceFailures} not), ${s.lookups} lookups, ${s.lookupFailures} lost`);
  t.true(s.acked.length > 100);
  t.is(s.announceFailures, 0);
  t.is(s.lookupFailures, 0);
  const after = await listed(w, 'client');
  const missing = s.acked.filter((id) => !after.names.has(`${id}.bin`));
  t.deepEqual(missing, [], 'every acknowledged announce is registered');

  await t2.stop();
  const t3 = await w.tracker('t1', long);
  t.regex(t3.lines.find((l) => /kv store loaded/.test(l)) ?? '', new RegExp(`peers=${s.acked.length}\\b`));
  const restarted = await listed(w, 'client');
  t.deepEqual(s.acked.filter((id) => !restarted.names.has(`${id}.bin`)), [], 'a fresh tracker answers from KV at once');
});

lab('cut the link of one of two seeders mid-download: finishes from the other; healed, it serves the next download', async (t) => {
  const w = await world(t, ['trk', 's1', 's2', 'leech']);
  await w.tracker('trk');
  const first = randomBytes(6 * MiB);
  const second = randomBytes(1 * MiB + 99);
  const slow = { P2P_PEER_UPLOAD_BPS: String(0.5 * MiB), P2P_PEER_MIN_CHUNK_SIZE: String(256 * 1024) };
  for (const s of ['s1', 's2']) await share(w.root, s, 'first.bin', first);
  await share(w.root, 's1', 'second.bin', second);
  await share(w.root, 's2', 'second.bin', second);
  await w.peer('s1', slow);
  await w.peer('s2', slow);
  await w.peer('leech', { P2P_DOWNLOAD_CHUNK_TIMEOUT_MS: '1500', P2P_DOWNLOAD_MAX_STRIKES: '1' });
  const get = w.cli('leech', ['get', 'first.bin', '--peer', 'leech', '--json']);
  await underWay(w, 'leech', 'first.bin');
  await w.lan.cut('s1');
  const r = await get;
  t.is(r.code, 0, r.stderr);
  t.is(sha(await readFile(lastJson<{ path: string }>(r).path)), sha(first));

  await w.lan.heal('s1');
  // s1 is back once the tracker lists it again (it re-announces if it was expired meanwhile)
  const deadline = Date.now() + 30_000;
  for (;;) {
    const l = await listed(w, 'leech');
    if (l.peers === 3) break;
    if (Date.now() > deadline) throw new Error(`s1 never came back: ${l.peers} peers`);
    await new Promise((res) => setTimeout(res, 300));
  }
  // now s2 is cut: the next download can only come from the healed s1
  await w.lan.cut('s2');
  const r2 = await w.cli('leech', ['get', 'second.bin', '--peer', 'leech', '--json']);
  t.is(r2.code, 0, r2.stderr);
  t.is(sha(await readFile(lastJson<{ path: string }>(r2).path)), sha(second), 'served by the healed seeder');
});

// Once seen failing in a clean CI run: announces acked during the partition missing after the heal.
// Root cause: a tracker instance's KV watch (an ordered consumer) that stops or stalls when its node
// is cut off froze that instance's view; src/tracker/kv-follow.ts restarts it from the last revision.
// Seen again inside the full suite (2026-12-06): 523 of 1 529 acked storm peers not listed 40 s
// after the heal (alone, the same test acked 559 and listed them all 0.6 s after it). Each storm
// peer heartbeat every second through 8 lanes, and every heartbeat is a KV write (docs/scaling.md,
// "Costs"): about 1 500 writes a second on the loaded machine, whose trackers logged KV errors on
// heartbeats; a peer whose beat comes later than the ttl expires until its next one. The storm's
// peers now heartbeat like real ones (a third of the ttl) and are capped in number: the test is
// about announces lost across a partition, not about the trackers' heartbeat capacity.
test.serial('a minority partition of one NATS node, then heal: no acknowledged announce lost, no peer stays gone', async (t) => {
  const w = await world(t, ['t1', 't2', 'p1', 'p2', 'p3', 'client']);
  // a ttl the storm's own peers outlive on a loaded machine; the partition outlasts it
  const ttl = { P2P_TRACKER_TTL_MS: '8000' };
  await w.tracker('t1', ttl);
  await w.tracker('t2', ttl);
  for (const p of ['p1', 'p2', 'p3']) {
    await share(w.root, p, `${p}.bin`, randomBytes(10_000));
    await w.peer(p);
  }
  // the storm talks to the majority side
  const storm = w.storm('client', ['--nats', natsUrls(w.lan, ['n1', 'n2']), '--announce', '--linger', '--heartbeat-ms', '2500', '--max-announces', '600', '--id', 'pp', '--ms', '12000', '--concurrency', '4']);
  await storm.waitFor(/tick 200/);
  await w.lan.cut('n3');
  await new Promise((r) => setTimeout(r, 9000)); // the partition outlasts the ttl: peers on n3 may expire
  await w.lan.heal('n3');
  const s = await stormResult(storm);
  t.log(`storm: ${s.acked.length} announces acked, ${s.announceFailures} not, ${s.lookupFailures} lookups lost`);
  // enough announces acked around the cut to mean something (fewer when a tracker sits behind the cut node:
  // requests routed to it time out until the route to that node is given up)
  t.true(s.acked.length >= 50, `only ${s.acked.length} acked`);
  const healed = Date.now();
  const deadline = healed + 40_000;
  let last = { names: new Set<string>(), peers: 0 };
  for (;;) {
    last = await listed(w, 'client').catch(() => last);
    const peersBack = ['p1', 'p2', 'p3'].every((p) => last.names.has(`${p}.bin`));
    if (peersBack && s.acked.every((id) => last.names.has(`${id}.bin`))) {
      t.log(`every acked announce and every peer listed ${Date.now() - healed} ms after the heal`);
      break;
    }
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  const missing = s.acked.filter((id) => !last.names.has(`${id}.bin`));
  t.log(`after the heal: ${missing.length} acked announces missing when the wait ended`);
  if (missing.length > 0) for (const h of ['t1', 't2']) t.log(`${h}: ${await warnings(join(w.root, `${h}.jsonl`))}`);
  t.deepEqual(missing, [], 'no acknowledged announce lost');
  t.deepEqual(['p1', 'p2', 'p3'].filter((p) => !last.names.has(`${p}.bin`)), [], 'no peer stays gone');
});

/** The warnings and errors in a tracker's JSON log (the last 20), for a failure's message. */
async function warnings(file: string): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const lines = text.split('\n').filter((l) => /"level":"(warn|error)"/.test(l));
  return `${lines.length} warnings/errors\n${lines.slice(-20).join('\n')}`;
}
