// lan-swarm: in the LAN lab (bench/lib/lan.ts), one seeder and 8 downloaders, each on its own
// host with its link capped at 100 Mbit/s both ways; NATS and the tracker on an uncapped host.
// Time until the last downloader has the file, against the ideal: file size ÷ link rate (the
// seeder's uplink alone would need 8× that; only downloaders serving each other get close).
// Where the lab cannot run (no root, no iproute2) the row is skipped with the reason.
import { mkdir, link, copyFile, rm } from 'node:fs/promises';
import { statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { onlyMatches, type BenchCase, type BenchContext } from '../lib/context.js';
import { Lan, labUnavailable, parseRate, type LabProcess } from '../lib/lan.js';
import { saveRequestTrace, startLanTrace } from '../lib/lan-trace.js';
import { findNatsServer } from '../lib/nats.js';
import { CLI, nodeArgs } from '../lib/p2p.js';
import { judge, skippedRow, type CaseResult } from '../lib/report.js';
import { withScope, type Scope } from '../lib/scope.js';
import { median } from '../lib/stats.js';
import { cpuShares, cpuTimes, machineJiffies, machineSeconds, medianShares, reapedChildrenCpu, sharesText, type CpuShares } from '../lib/procfs.js';
import { loadConfig } from '../../config/index.js';
import { chooseChunkSize, chunkCount } from '../../src/store/manifest.js';

export const LAN_RATE = '100mbit';
/**
 * The lab's variants (one run each in a full bench, after lan-swarm's runs): jumbo frames cut the
 * packets, and with them the per-packet CPU of the emulated links and of every host's TCP stack,
 * by six for the same bytes; at half the rate the lab needs about half the CPU per second again.
 * On a 2-core machine whose cores bound the full-rate lab they show the swarm's own time
 * (bench/README.md, "The jumbo-frame lab").
 */
export const LAN_JUMBO_MTU = 9000;
export const LAN_HALF_RATE = '50mbit';
interface LanVariant {
  name: string;
  rate: string;
  mtu: number;
  what: string;
}
const LAN_VARIANTS: LanVariant[] = [
  { name: 'lan-swarm-jumbo', rate: LAN_RATE, mtu: LAN_JUMBO_MTU, what: `the lan-swarm lab with ${LAN_JUMBO_MTU}-byte frames: a sixth of the packets for the same bytes, so a sixth of the per-packet CPU (the links' emulation, every host's TCP stack) on the shared cores` },
  { name: `lan-swarm-${LAN_HALF_RATE}-jumbo`, rate: LAN_HALF_RATE, mtu: LAN_JUMBO_MTU, what: `the jumbo-frame lab with every link at ${LAN_HALF_RATE}: about half the CPU per second again, so the swarm's own time shows where the full-rate lab is bound by the cores` },
];
export const LAN_DOWNLOADERS = 8;
const PREFIX = 'lanb';
/** lan-swarm against the ideal: at most this (and ahead of the BitTorrent clients: lan-external adds those checks) */
export const LAN_TARGET = 1.1;

/** One lan-swarm run: its time, and how the chunks flowed (chunks each peer served). */
interface LanRun {
  ms: number;
  seederSent: number;
  downloadersSent: number[];
  /** how the machine's CPU time went while the clock ran (every process, the links' emulation too) */
  cpu: CpuShares;
  /** the lab hosts' TCP congestion control */
  tcp: string;
  /** who used the CPU while the clock ran, in CPU seconds */
  cpuSeconds: LabCpu;
}

/** CPU seconds over one run's clock, by role: what the work cost, and what else ran. */
export interface LabCpu {
  /** the machine's busy time (every process, every core) and its softirq part (the links' emulation, mostly; some of it
   *  runs in a process's context and counts in that process's system time too) */
  busy: number;
  softirq: number;
  /** each downloading peer (user + system) and its user part */
  downloaders: number[];
  downloadersUser: number[];
  seeder: number;
  tracker: number;
  broker: number;
  /** the 8 `p2p get` commands together (start-up included) */
  gets: number;
  /** busy time none of the processes above took (the bench itself, other jobs, softirq run outside them) */
  other: number;
}

/** The CPU seconds each of `pids` uses from now until the returned function is called (0 for one gone by then). */
function procSeconds(pids: Array<number | undefined>): () => Array<{ user: number; all: number }> {
  const read = () => pids.map((pid) => (pid === undefined ? undefined : cpuTimes(pid)));
  const before = read();
  return () =>
    read().map((t, i) => {
      const b = before[i];
      return t && b ? { user: t.user - b.user, all: t.user + t.sys - b.user - b.sys } : { user: 0, all: 0 };
    });
}

/**
 * "CPU s over the run: downloaders 5.0 each (user 2.5), seeder 0.9, …; the machine busy 50 s, which
 * 2 cores need 24.8 s of wall time for (1.15 × the ideal; …)": the CPU floor, under which no run
 * on these cores can end whatever the swarm does.
 */
export function labCpuText(c: LabCpu, cores: number, ideal: number): string {
  const each = (xs: number[]) => median(xs).toFixed(1);
  return `CPU s over the run: downloaders ${each(c.downloaders)} each (user ${each(c.downloadersUser)}), seeder ${c.seeder.toFixed(1)}, tracker ${c.tracker.toFixed(1)}, broker ${c.broker.toFixed(1)}, the gets ${c.gets.toFixed(1)}, other ${c.other.toFixed(1)}; the machine busy ${c.busy.toFixed(0)} s, which ${cores} cores need ${(c.busy / cores).toFixed(1)} s of wall time for (${(c.busy / cores / ideal).toFixed(2)} × the ideal; softirq ${c.softirq.toFixed(1)} s of it)`;
}

/** A run's CPU floor: the machine's busy CPU seconds ÷ its cores, the wall time no run on these cores could beat at that CPU. */
const cpuFloorS = (run: LanRun): number => run.cpuSeconds.busy / availableParallelism();

/** A run that ended at most this long past its CPU floor was held by the cores (runs with CPU to spare end 5–9 s past theirs). */
export const CPU_BOUND_SLACK_S = 2;

/**
 * What bound the lab's runs, from each run's wall time and CPU floor (busy CPU s ÷ cores): the
 * cores, when every run ended within CPU_BOUND_SLACK_S of its floor (and whether the floors alone
 * exceed the target), else the swarm's own time over the floor.
 */
export function boundVerdict(runsS: number[], floorsS: number[], ideal: number, target: number): string {
  const span = (xs: number[], digits: number) => {
    const lo = Math.min(...xs).toFixed(digits);
    const hi = Math.max(...xs).toFixed(digits);
    return lo === hi ? lo : `${lo}–${hi}`;
  };
  const over = runsS.map((r, i) => r - floorsS[i]!);
  const floors = span(floorsS.map((f) => f / ideal), 2);
  if (Math.max(...over) <= CPU_BOUND_SLACK_S) {
    const why = floorsS.every((f) => f / ideal > target) ? `, over the ${target} target: these cores could not reach it whatever the swarm did` : '';
    return `bound by the cores: every run ended within ${Math.max(...over).toFixed(1)} s of its CPU floor (${floors} × the ideal${why})`;
  }
  return `not bound by the cores: the runs ended ${span(over, 1)} s past their CPU floors (${floors} × the ideal), the swarm's own time (start, first pass, tail)`;
}

/** The lab for one lan-swarm run: ctl (NATS + tracker), seed, d1..d8; every peer host capped. */
export async function lanLab(scope: Scope, rate = LAN_RATE, mtu?: number): Promise<Lan> {
  const hosts = ['ctl', 'seed', ...Array.from({ length: LAN_DOWNLOADERS }, (_, i) => `d${i + 1}`)];
  // BENCH_LAN_CC: every lab host's TCP congestion control (default: the machine's)
  const lan = await Lan.create(scope, { hosts, congestion: process.env.BENCH_LAN_CC || undefined, mtu });
  for (const h of hosts.slice(1)) await lan.cap(h, rate);
  return lan;
}

/** The file, hard-linked (or copied) into `dir`. */
export async function placeFile(file: string, dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const to = join(dir, basename(file));
  await link(file, to).catch(() => copyFile(file, to));
  return to;
}

async function p2pRun(ctx: BenchContext, file: string, rep: number | string, rate = LAN_RATE, mtu?: number): Promise<LanRun> {
  return withScope(ctx.scope, async (scope) => {
    const lan = await lanLab(scope, rate, mtu);
    const work = join(ctx.work, `lan-p2p-${rep}`);
    scope.defer(() => rm(work, { recursive: true, force: true }));
    const ctl = lan.host('ctl').addr;
    const bin = findNatsServer();
    if (!bin) throw new Error('nats-server is not installed');
    const nats = lan.spawn('ctl', bin, ['-a', ctl, '-p', '4222', '-js', '-sd', join(work, 'nats')]);
    await nats.waitFor(/Server is ready/, 15_000);
    const common = ['--nats', `nats://${ctl}:4222`, '--prefix', PREFIX];
    const env = { ...process.env, P2P_LOG_LEVEL: 'info' };
    // BENCH_P2P_NODE_ARGS reach the daemons (tracker, peers), not the gets; with BENCH_LAN_TRACE the
    // peers log at debug level: one line per chunk request, gathered after the run
    const peerEnv = process.env.BENCH_LAN_TRACE ? { ...env, P2P_LOG_LEVEL: 'debug' } : env;
    const node = (host: string, args: string[], flags: string[] = [], e = env) => lan.spawn(host, process.execPath, [...flags, CLI, ...args, ...common], { env: e });
    const ready = async (p: LabProcess, re: RegExp) => void (await p.waitFor(re, 120_000));
    const tracker = node('ctl', ['tracker', '--log-file', join(work, 'tracker.jsonl')], nodeArgs());
    await ready(tracker, /tracker ready/);
    await placeFile(file, join(work, 'seed', 'shared'));
    const peer = (h: string) => node(h, ['peer', '--dir', join(work, h), '--id', h, '--host', lan.host(h).addr], nodeArgs(), peerEnv);
    const seeder = peer('seed');
    await ready(seeder, /peer ready/);
    const ds = Array.from({ length: LAN_DOWNLOADERS }, (_, i) => `d${i + 1}`);
    const peers = ds.map(peer);
    await Promise.all(peers.map((p) => ready(p, /peer ready/)));
    const trace = startLanTrace(lan, `lan-swarm-${rep}`, 'seed');
    // `ip netns exec` execs its command: each child's pid is the process's own
    const procs = procSeconds([...peers, seeder, tracker, nats].map((p) => p.child.pid));
    const reaped0 = reapedChildrenCpu();
    const t0 = performance.now();
    const jiffies0 = machineJiffies();
    const gets = ds.map((h) => node(h, ['get', basename(file), '--peer', h, '--json', '--quiet', '--timeout', '600']));
    const codes = await Promise.all(gets.map((g) => g.exited));
    const ms = performance.now() - t0;
    const jiffies1 = machineJiffies();
    const cpu = cpuShares(jiffies0, jiffies1);
    const used = procs();
    const reaped1 = reapedChildrenCpu();
    const machine = machineSeconds(jiffies0, jiffies1);
    const downloaders = used.slice(0, ds.length);
    const [seed, trk, broker] = used.slice(ds.length).map((u) => u.all) as [number, number, number];
    // the gets are this process's only children to exit while the clock runs (the trace's commands aside)
    const getsCpu = reaped1.user + reaped1.sys - reaped0.user - reaped0.sys;
    const ours = downloaders.reduce((a, d) => a + d.all, 0) + seed + trk + broker + getsCpu;
    const cpuSeconds: LabCpu = {
      busy: machine.busy,
      softirq: machine.softirq,
      downloaders: downloaders.map((d) => d.all),
      downloadersUser: downloaders.map((d) => d.user),
      seeder: seed,
      tracker: trk,
      broker,
      gets: getsCpu,
      other: Math.max(0, machine.busy - ours),
    };
    if (trace) ctx.log(`lan-swarm run ${rep}: ${await trace.stop()}`);
    const bad = codes.findIndex((c) => c !== 0);
    if (bad >= 0) throw new Error(`d${bad + 1}: p2p get exited ${codes[bad]}: ${gets[bad]!.lines.slice(-3).join(' | ')}`);
    for (const h of ds) {
      if (statSync(join(work, h, 'downloads', basename(file))).size !== statSync(file).size) throw new Error(`${h}: incomplete file`);
    }
    // the chunk flow, after the clock stopped: what each peer served (`p2p status` from the ctl host)
    const served = async (h: string): Promise<number> => {
      const st = node('ctl', ['status', '--peer', h, '--json']);
      await st.exited;
      try {
        return (JSON.parse(st.lines.filter((l) => l.startsWith('{')).at(-1) ?? '') as { served: { chunks: number } }).served.chunks;
      } catch {
        return Number.NaN;
      }
    };
    const flow = { ms, cpu, cpuSeconds, tcp: await lan.congestion(), seederSent: await served('seed'), downloadersSent: await Promise.all(ds.map(served)) };
    const requests = await saveRequestTrace(`lan-swarm-${rep}`, ds.map((h) => [h, join(work, h, '.p2p', 'log.jsonl')]));
    if (requests) ctx.log(`lan-swarm run ${rep}: ${requests}`);
    // profiling flags (--cpu-prof) write their files on a clean exit, not on the lab's SIGKILL
    if (nodeArgs().length > 0) await Promise.all([...peers, seeder, tracker].map((p) => p.stop()));
    return flow;
  });
}

/** The ideal: every downloader receives the whole file at the full link rate. */
export function idealSeconds(sizeBytes: number, rate = LAN_RATE): number {
  return (sizeBytes * 8) / parseRate(rate);
}

/**
 * What a capped link carries per full frame: a 1500-byte IP packet carries 1448 bytes of TCP
 * payload (20 IP + 20 TCP + 12 timestamp option) in a 1514-byte frame, the length tbf charges.
 */
export const TCP_PAYLOAD_BYTES = 1448;
export const TCP_FRAME_BYTES = 1514;

/** The best any TCP transfer can do: every downloader receives the file's bytes at the link's payload rate. */
export function tcpBoundSeconds(sizeBytes: number, rate = LAN_RATE, mtu = 1500): number {
  // per frame: the MTU less 52 bytes of headers (IP, TCP, timestamps), in MTU + 14 bytes (Ethernet)
  const payload = mtu - (1500 - TCP_PAYLOAD_BYTES);
  const frame = mtu + (TCP_FRAME_BYTES - 1500);
  return (idealSeconds(sizeBytes, rate) * frame) / payload;
}

/** A lab row timed against the ideal (size ÷ link rate): the fields every lan-* row shares. */
export function idealRow(name: string, runs: number[], ideal: number, note: string, rate = LAN_RATE): CaseResult {
  const value = median(runs);
  return { name, value, unit: 's', baseline: ideal, baselineOf: `ideal: size ÷ ${rate}`, ratio: value / ideal, target: null, pass: null, runs, note };
}

/**
 * Which of the case's rows to measure: all (the variants not with --quick) unless --only names
 * some; `--only lan-swarm-50mbit-jumbo` runs that variant alone, even with --quick (for A/Bs).
 */
export function lanRowsWanted(only: string[], quick: boolean): { main: boolean; variants: string[] } {
  const named = (name: string) => only.some((o) => onlyMatches(o, name));
  const explicit = (name: string) => only.some((o) => onlyMatches(o, name) && !'lan-swarm'.startsWith(o));
  return {
    main: only.length === 0 || named('lan-swarm'),
    variants: LAN_VARIANTS.map((v) => v.name).filter((n) => (only.length === 0 || named(n)) && (!quick || explicit(n))),
  };
}

export const lanSwarm: BenchCase = {
  name: 'lan-swarm',
  rows: ['lan-swarm', ...LAN_VARIANTS.map((v) => v.name)],
  timeoutMs: (o) => (o.quick ? 240_000 : 1_200_000),
  async run(ctx): Promise<CaseResult[]> {
    const why = await labUnavailable();
    if (why) return [skippedRow('lan-swarm', 's', `LAN lab unavailable: ${why}`)];
    const wanted = lanRowsWanted(ctx.opts.only, ctx.opts.quick);
    const file = await ctx.files.swarm();
    const size = statSync(file).size;
    const ideal = idealSeconds(size);
    const runs: number[] = [];
    const flows: LanRun[] = [];
    // the chunk size the lab's peers choose: their config comes from this environment (an A/B's P2P_PEER_* too)
    const chunks = chunkCount(size, chooseChunkSize(size, loadConfig({ env: process.env }).peer));
    const reps = !wanted.main ? 0 : ctx.opts.quick ? 1 : ctx.opts.reps;
    for (let i = 0; i < reps; i++) {
      const run = await p2pRun(ctx, file, i + 1);
      runs.push(run.ms / 1000);
      flows.push(run);
      const shares = run.downloadersSent.map((n) => (n / chunks).toFixed(2)).join(', ');
      ctx.log(`lan-swarm run ${i + 1}: ${runs.at(-1)!.toFixed(1)} s (ideal ${ideal.toFixed(1)} s); seeder sent ${(run.seederSent / chunks).toFixed(2)}× the file, downloaders ${shares}×; ${sharesText(run.cpu)}; ${labCpuText(run.cpuSeconds, availableParallelism(), ideal)}`);
    }
    const variants: CaseResult[] = [];
    for (const v of LAN_VARIANTS) if (wanted.variants.includes(v.name)) variants.push(await variantRow(ctx, file, chunks, v));
    if (!wanted.main) return variants;
    const bound = tcpBoundSeconds(size);
    const row = idealRow('lan-swarm', runs, ideal, `${(size / 1024 ** 2).toFixed(0)} MiB, 1 seeder + ${LAN_DOWNLOADERS} downloaders on their own hosts, every link ${LAN_RATE} both ways (tc tbf); TCP's own bound ${bound.toFixed(1)} s (${(bound / ideal).toFixed(3)} × the ideal: ${TCP_PAYLOAD_BYTES} payload bytes per ${TCP_FRAME_BYTES}-byte frame)`);
    const sentX = median(flows.map((f) => f.seederSent)) / chunks;
    const middle = [...flows].sort((a, b) => a.ms - b.ms)[Math.floor((flows.length - 1) / 2)]!;
    return [
      {
        ...row,
        target: LAN_TARGET,
        direction: 'atMost',
        pass: judge(row.ratio, LAN_TARGET, 'atMost'),
        note: `${row.note}; seeder sent ${sentX.toFixed(2)}× the file; ${sharesText(medianShares(flows.map((f) => f.cpu)))} over the run, ${LAN_DOWNLOADERS + 1} peers and the links' emulation on ${availableParallelism()} cores; TCP ${flows[0]?.tcp ?? '?'}; ${boundVerdict(runs, flows.map(cpuFloorS), ideal, LAN_TARGET)}; the median run's ${labCpuText(middle.cpuSeconds, availableParallelism(), ideal)}${variants.length ? `; the same swarm with jumbo frames: ${variants.map((v) => `${v.name} ${v.ratio?.toFixed(2) ?? '?'} × its ideal`).join(', ')} (their notes say what bound them)` : ''}`,
        detail: labDetail(size, LAN_RATE, chunks, flows),
      },
      ...variants,
    ];
  },
};

/**
 * One run of the same swarm in a variant of the lab (jumbo frames, half the rate): on a machine
 * whose cores bound the full-rate lab these rows show what the swarm itself leaves against the
 * ideal (start, middle, tail), judged by the same target.
 */
async function variantRow(ctx: BenchContext, file: string, chunks: number, v: LanVariant): Promise<CaseResult> {
  const size = statSync(file).size;
  const ideal = idealSeconds(size, v.rate);
  const run = await p2pRun(ctx, file, v.name, v.rate, v.mtu);
  const seconds = run.ms / 1000;
  const cores = availableParallelism();
  const sentX = run.seederSent / chunks;
  ctx.log(`${v.name}: ${seconds.toFixed(1)} s (ideal ${ideal.toFixed(1)} s); seeder sent ${sentX.toFixed(2)}× the file; ${sharesText(run.cpu)}; ${labCpuText(run.cpuSeconds, cores, ideal)}`);
  const bound = tcpBoundSeconds(size, v.rate, v.mtu);
  const row = idealRow(
    v.name,
    [seconds],
    ideal,
    `one run, ${v.what}; TCP's own bound ${bound.toFixed(1)} s (${(bound / ideal).toFixed(3)} × the ideal); seeder sent ${sentX.toFixed(2)}× the file; ${sharesText(run.cpu)} over the run; ${boundVerdict([seconds], [cpuFloorS(run)], ideal, LAN_TARGET)}; ${labCpuText(run.cpuSeconds, cores, ideal)}`,
    v.rate,
  );
  return {
    ...row,
    target: LAN_TARGET,
    direction: 'atMost',
    pass: judge(row.ratio, LAN_TARGET, 'atMost'),
    detail: labDetail(size, v.rate, chunks, [run], v.mtu),
  };
}

/** The `detail` of a lan-swarm row: the chunk flow, CPU shares, and each run's CPU floor (busy CPU s ÷ cores) and how far past it the run went. */
function labDetail(size: number, rate: string, chunks: number, flows: LanRun[], mtu = 1500): Record<string, unknown> {
  const floors = flows.map(cpuFloorS);
  return {
    sizeBytes: size,
    downloaders: LAN_DOWNLOADERS,
    linkRate: rate,
    mtu,
    chunks,
    tcpBoundS: tcpBoundSeconds(size, rate, mtu),
    seederSentX: median(flows.map((f) => f.seederSent)) / chunks,
    cpuShares: flows.map((f) => f.cpu),
    tcp: flows[0]?.tcp,
    flows,
    cpuFloorS: floors,
    overCpuFloorS: flows.map((f, i) => f.ms / 1000 - floors[i]!),
  };
}
