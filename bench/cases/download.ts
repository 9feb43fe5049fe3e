// download-1to1, download-3to1 and peer-rss: a 1 GiB (or 4 GiB) file from one or three p2p
// seeders to one fresh downloader, timed from intent to verified file under its final name (the
// peer's own measure; the `p2p get` wall time, CLI start-up included, is kept in the detail).
// Beside each download row, the CPU rows: the downloading peer's CPU seconds (user + sys from
// /proc/PID/stat, the peer process, not the CLI) per GiB against verified-copy's receiver, and the
// seeders' CPU per GiB served against verified-copy's plain file-to-socket sender. CPU per GiB
// hardly moves with the machine's load, unlike the wall-clock rates.
import { statSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import type { BenchCase, BenchContext } from '../lib/context.js';
import { valueOf } from '../lib/context.js';
import { getFile, servedBytes, startPeer } from '../lib/p2p.js';
import { judge, ratioOf, type CaseResult } from '../lib/report.js';
import { cpuShares, cpuTimes, idleCpuPerSecond, machineJiffies, medianShares, rssNow, sampleRss, threadCpuSeconds, threadSchedstat, type CpuShares } from '../lib/procfs.js';
import { mainTime, mainTimeCompare, mainTimeText, medianTime, signed, type MainTime } from './download-sched.js';
import { cpuRows } from './download-cpu.js';
import { withScope, type Scope } from '../lib/scope.js';
import { GiB, MB, median, rateMBps } from '../lib/stats.js';
import { downloaderFolder, startSwarm, type RunningSwarm } from '../lib/swarm.js';
import { pairedCopy, type PairedCopy } from './tcp.js';
import { settledPages } from '../lib/pages.js';

export interface DownloadRun {
  /** MB/s, intent → verified (peer-measured) */
  rate: number;
  /** MB/s over the wall time of `p2p get` */
  wallRate: number;
  /** peak RSS of the downloading peer, bytes */
  rss: number | undefined;
  /** its RSS when ready, before the download (what the process costs idle), bytes */
  idleRss: number | undefined;
  sources: number;
  /** the downloading peer's CPU seconds per GiB over the `get` */
  cpuPerGiB: number | undefined;
  /** the seeders' CPU seconds (summed) per GiB of the file over the `get` */
  seedCpuPerGiB: number | undefined;
  /** a verified copy of the same file right after this run: its receiver's and sender's CPU per GiB */
  /** of cpuPerGiB, the system time */
  sysPerGiB?: number | undefined;
  /** of cpuPerGiB, the peer's main thread (the event loop; the rest is libuv's pool and V8's helpers) */
  mainPerGiB?: number | undefined;
  /** the peer's minor page faults per GiB (fresh anonymous memory touched, among others) */
  faultsPerGiB?: number | undefined;
  /** of seedCpuPerGiB, the system time */
  seedSysPerGiB?: number | undefined;
  /** of seedCpuPerGiB, the seeders' main threads (the rest: libuv's pool reading, V8's helpers) */
  seedMainPerGiB?: number | undefined;
  /** a copy from as many plain senders as the run had seeders, each sending its part of the file (their CPU summed) */
  pairedSenders?: PairedCopy | undefined;
  /** the seeders' CPU seconds per second (summed, every thread) over a second of idling right before the run */
  seedIdleCpuPerS?: number | undefined;
  /** that idle rate over the run's wall time, per GiB: the share of seedCpuPerGiB their daemons would spend doing nothing */
  seedIdlePerGiB?: number | undefined;
  /** bytes the seeders sent over the run ÷ the file (1 when no chunk went out twice), from `p2p status` */
  seedSentX?: number | undefined;
  /** the peer's main thread over the `get`, per GiB: on a core, waiting for one, off the cores (schedstat) */
  main?: MainTime | undefined;
  /** the whole machine's CPU over the `get` (/proc/stat): how much of it was idle */
  machine?: CpuShares;
  paired?: PairedCopy;
}

/** The seeders' bytes sent between two readings ÷ `size` (undefined if any reading is missing). */
function sentOver(before: Array<number | undefined>, after: Array<number | undefined>, size: number): number | undefined {
  let sum = 0;
  for (let i = 0; i < before.length; i++) {
    const a = before[i];
    const b = after[i];
    if (a === undefined || b === undefined) return undefined;
    sum += b - a;
  }
  return sum / size;
}

/** CPU seconds of `pids` (summed) now, user + system, system alone and the main threads'; undefined if any is gone. */
function cpuOf(pids: number[]): { all: number; sys: number; main: number } | undefined {
  const sum = { all: 0, sys: 0, main: 0 };
  for (const pid of pids) {
    const c = cpuTimes(pid);
    const main = threadCpuSeconds(pid, pid);
    if (c === undefined || main === undefined) return undefined;
    sum.all += c.user + c.sys;
    sum.sys += c.sys;
    sum.main += main;
  }
  return sum;
}

function delta(before: number | undefined, after: number | undefined, bytes: number): number | undefined {
  return before === undefined || after === undefined ? undefined : (after - before) / (bytes / GiB);
}

/** How long the seeders' idle CPU is read before each run. */
const SEED_IDLE_MS = 1000;

/** `reps` downloads of `file` from `seeders` seeders, each by a fresh downloader peer. */
export async function downloadRuns(ctx: BenchContext, tag: string, file: string, seeders: number, reps: number, paired = false, runTag = 'dl'): Promise<DownloadRun[]> {
  return withScope(ctx.scope, async (scope) => {
    const s = await startSwarm(ctx, scope, tag, file, seeders);
    const runs: DownloadRun[] = [];
    for (let i = 0; i < reps; i++) runs.push(await downloadOnce(ctx, scope, s, tag, file, i, paired, runTag));
    return runs;
  });
}

/**
 * Download `file` once from the running swarm `s` by a fresh downloader peer (run `i`, from 0),
 * the seeders' CPU and bytes sent measured around it; `paired`: a verified copy right after.
 */
export async function downloadOnce(ctx: BenchContext, scope: Scope, s: RunningSwarm, tag: string, file: string, i: number, paired = false, runTag = 'dl'): Promise<DownloadRun> {
  const size = statSync(file).size;
  const run: DownloadRun = await withScope(scope, async (rs) => {
    // every downloader is a fresh peer with a fresh key: its id must be new to the swarm's
    // tracker too, which keeps its key bindings across the swarm's restarts
    const id = `${tag}-${runTag}${i + 1}`;
    const dir = await downloaderFolder(ctx, rs, id);
    const peer = await startPeer(rs, s.swarm, dir, id);
    const seedPids = s.seeders.map((p) => p.pid);
    const idleRss = rssNow(peer.pid);
    // what the seeders' daemons cost per second by themselves (bus, timers, logs), before the
    // memory is settled for the run: the part of their CPU per GiB that is per second, not per chunk
    const seedIdle = await idleCpuPerSecond(seedPids, SEED_IDLE_MS);
    // the download starts on a settled machine and freshly freed memory, like its paired copy (lib/pages.ts)
    await settledPages(ctx.work, size);
    const rss = sampleRss(peer.pid);
    const cpu0 = cpuTimes(peer.pid);
    const main0 = threadCpuSeconds(peer.pid, peer.pid);
    const sent0 = await Promise.all(s.seederIds.map((sid) => servedBytes(s.nc, s.swarm, sid)));
    const seed0 = cpuOf(seedPids);
    const sched0 = threadSchedstat(peer.pid, peer.pid);
    const jiffies0 = machineJiffies();
    const t0 = performance.now();
    const r = await getFile(rs, s.swarm, id, s.name, 600);
    const wallSec = (performance.now() - t0) / 1000;
    const sched1 = threadSchedstat(peer.pid, peer.pid);
    const machine = cpuShares(jiffies0, machineJiffies());
    const cpu1 = cpuTimes(peer.pid);
    const main1 = threadCpuSeconds(peer.pid, peer.pid);
    const seed1 = cpuOf(seedPids);
    const peak = rss.stop();
    const sent1 = await Promise.all(s.seederIds.map((sid) => servedBytes(s.nc, s.swarm, sid)));
    if (!r.ok) throw new Error(`${tag}: download failed (${r.status}): ${r.error}`);
    return {
      rate: rateMBps(size, r.peerMs ?? r.wallMs),
      wallRate: rateMBps(size, r.wallMs),
      rss: peak,
      idleRss,
      sources: r.sources,
      cpuPerGiB: delta(cpu0 && cpu0.user + cpu0.sys, cpu1 && cpu1.user + cpu1.sys, size),
      sysPerGiB: delta(cpu0?.sys, cpu1?.sys, size),
      mainPerGiB: delta(main0, main1, size),
      faultsPerGiB: delta(cpu0?.minorFaults, cpu1?.minorFaults, size),
      seedCpuPerGiB: delta(seed0?.all, seed1?.all, size),
      seedSysPerGiB: delta(seed0?.sys, seed1?.sys, size),
      seedMainPerGiB: delta(seed0?.main, seed1?.main, size),
      seedSentX: sentOver(sent0, sent1, size),
      seedIdleCpuPerS: seedIdle,
      seedIdlePerGiB: seedIdle === undefined ? undefined : (seedIdle * wallSec) / (size / GiB),
      main: mainTime(sched0, sched1, wallSec, size, r.peerMs === null ? 0 : wallSec - r.peerMs / 1000),
      machine,
    };
  });
  // the CPU baselines taken right beside the run (the machine's state moves them over a run)
  if (paired) run.paired = await pairedCopy(ctx, file, size, `${tag}-${i + 1}`);
  ctx.log(
    `${tag} run ${i + 1}: ${run.rate.toFixed(0)} MB/s (wall ${run.wallRate.toFixed(0)}), ${run.sources} source(s), peak RSS ${((run.rss ?? 0) / MB).toFixed(0)} MB (idle ${((run.idleRss ?? 0) / MB).toFixed(0)}), CPU/GiB peer ${run.cpuPerGiB?.toFixed(2)} s (sys ${run.sysPerGiB?.toFixed(2)}, main thread ${run.mainPerGiB?.toFixed(2)}, ${run.faultsPerGiB?.toFixed(0)} minor faults${run.main ? `; ${mainTimeText(run.main)}` : ''}; machine idle ${run.machine?.idle} %), seeders ${run.seedCpuPerGiB?.toFixed(2)} s (sys ${run.seedSysPerGiB?.toFixed(2)}, main threads ${run.seedMainPerGiB?.toFixed(2)}, idle ${((run.seedIdleCpuPerS ?? NaN) * 1000).toFixed(1)} ms/s, sent ${run.seedSentX?.toFixed(3)} × the file)${run.paired ? `; paired verified copy: receiver ${run.paired.recvCpuPerGiB?.toFixed(2)} s (sys ${run.paired.recvSysPerGiB?.toFixed(2)}, main thread ${run.paired.recvMainPerGiB?.toFixed(2)}), sender ${run.paired.sendCpuPerGiB?.toFixed(2)} s (sys ${run.paired.sendSysPerGiB?.toFixed(2)}, main thread ${run.paired.sendMainPerGiB?.toFixed(2)})` : ''}`,
  );
  return run;
}

/** "; the machine idle 12 % over the gets (the 1-source runs: 20 %)": the CPU left over, median of the runs' shares. */
export function idleText(runs: DownloadRun[], ones?: DownloadRun[]): string {
  const idle = (rs: DownloadRun[]) => {
    const shares = rs.flatMap((r) => (r.machine ? [r.machine] : []));
    return shares.length ? medianShares(shares).idle : undefined;
  };
  const ours = idle(runs);
  if (ours === undefined) return '';
  const theirs = ones ? idle(ones) : undefined;
  return `; the machine idle ${ours} % over the gets${theirs !== undefined ? ` (the 1-source runs: ${theirs} %)` : ''}`;
}

function detailOf(runs: DownloadRun[]): Record<string, unknown> {
  return {
    wallRateMBps: median(runs.map((r) => r.wallRate)),
    wallRuns: runs.map((r) => Math.round(r.wallRate)),
    sources: runs.map((r) => r.sources),
    peakRssMB: runs.map((r) => Math.round((r.rss ?? 0) / MB)),
    idleRssMB: runs.map((r) => Math.round((r.idleRss ?? 0) / MB)),
    mainThreadPerGiB: medianTime(runs.map((r) => r.main)),
    mainThreadRuns: runs.map((r) => r.main),
    machineIdlePercent: runs.map((r) => r.machine?.idle),
  };
}

/** download-1to1 against verified-copy, download-3to1 against download-1to1. */
const RATE_TARGET = 1.0;

export const download1to1: BenchCase = {
  name: 'download-1to1',
  rows: ['download-1to1', 'download-1to1-cpu', 'download-1to1-seed-cpu'],
  async run(ctx) {
    const runs = await downloadRuns(ctx, 'd1', await ctx.files.big(), 1, ctx.opts.reps, true);
    ctx.shared.set('rss-1to1', runs.map((r) => r.rss));
    const value = median(runs.map((r) => r.rate));
    const verified = valueOf(ctx, 'verified-copy');
    const tcp = valueOf(ctx, 'tcp-limit');
    const tcpRatio = ratioOf(value, tcp);
    const checks = [{ baselineOf: 'tcp-limit', baseline: tcp, ratio: tcpRatio, target: 0.6, direction: 'atLeast' as const, pass: judge(tcpRatio, 0.6, 'atLeast') }];
    // the verified copy made right after each run, as the CPU rows pair theirs and download-3to1 its
    // 1-source runs: two moments seconds apart, where the verified-copy case ran minutes before and
    // the machine moves between (bench/README.md, "download-1to1 against its paired copy")
    const pairedRates = runs.flatMap((r) => (r.paired ? [r.paired.rate] : []));
    const pairedRate = pairedRates.length ? median(pairedRates) : null;
    const caseRatio = ratioOf(value, verified);
    const oneMain = medianTime(runs.map((r) => r.main));
    const baseline = pairedRate ?? verified;
    const ratio = ratioOf(value, baseline);
    const p1 = judge(ratio, RATE_TARGET, 'atLeast');
    const row: CaseResult = {
      name: 'download-1to1',
      value,
      unit: 'MB/s',
      baseline,
      baselineOf: pairedRate !== null ? 'verified-copy (paired: a verified copy right after each run)' : 'verified-copy',
      ratio,
      target: RATE_TARGET,
      direction: 'atLeast',
      pass: p1 === null || checks[0]!.pass === null ? null : p1 && checks[0]!.pass,
      runs: runs.map((r) => r.rate),
      checks,
      detail: { ...detailOf(runs), pairedVerifiedCopyMBps: pairedRates.map(Math.round), 'verified-copy-case': verified, ratioToCase: caseRatio },
      note:
        `wall (incl. CLI start) ${median(runs.map((r) => r.wallRate)).toFixed(0)} MB/s` +
        (oneMain ? `; the downloader's main thread per GiB ${mainTimeText(oneMain)}` : '') +
        idleText(runs) +
        (pairedRate !== null && caseRatio !== null && verified !== null ? `; ${caseRatio.toFixed(2)}× the verified-copy case (${verified.toFixed(0)} MB/s, minutes earlier in the run)` : ''),
    };
    return [row, ...cpuRows(ctx, 'download-1to1', runs)];
  },
};

export const download3to1: BenchCase = {
  name: 'download-3to1',
  rows: ['download-3to1', 'download-3to1-cpu', 'download-3to1-seed-cpu'],
  async run(ctx) {
    // each 3-source run right after a 1-source run of the same file: the ratio of two moments a
    // few seconds apart, not of two ends of the run. Both swarms stay up across the runs, as
    // download-1to1's does: run 1 meets fresh seeders, the later runs the same seeders warm.
    const file = await ctx.files.big();
    const runs: DownloadRun[] = [];
    const ones: DownloadRun[] = [];
    await withScope(ctx.scope, async (scope) => {
      const one = await startSwarm(ctx, scope, 'd1', file, 1, {}, 'one-');
      const three = await startSwarm(ctx, scope, 'd3', file, 3);
      for (let i = 0; i < ctx.opts.reps; i++) {
        ones.push(await downloadOnce(ctx, scope, one, 'd1', file, i, false, 'paired'));
        const run = await downloadOnce(ctx, scope, three, 'd3', file, i, true);
        run.pairedSenders = await pairedCopy(ctx, file, statSync(file).size, `d3-${i + 1}`, 3);
        ctx.log(`d3 run ${i + 1}: three plain senders, each its third: ${run.pairedSenders.sendCpuPerGiB?.toFixed(2)} s/GiB (sys ${run.pairedSenders.sendSysPerGiB?.toFixed(2)}, main threads ${run.pairedSenders.sendMainPerGiB?.toFixed(2)})`);
        runs.push(run);
      }
    });
    const value = median(runs.map((r) => r.rate));
    const one = median(ones.map((r) => r.rate));
    const ratio = ratioOf(value, one);
    const caseOne = valueOf(ctx, 'download-1to1');
    const threeMain = medianTime(runs.map((r) => r.main));
    const oneMain = medianTime(ones.map((r) => r.main));
    return [
      {
        name: 'download-3to1',
        value,
        unit: 'MB/s',
        baseline: one,
        baselineOf: 'download-1to1 (paired: a 1-source run right before each)',
        ratio,
        target: RATE_TARGET,
        direction: 'atLeast',
        pass: judge(ratio, RATE_TARGET, 'atLeast'),
        runs: runs.map((r) => r.rate),
        detail: { ...detailOf(runs), pairedOneSourceRuns: ones.map((r) => Math.round(r.rate)), pairedOneSourceMainThreadPerGiB: oneMain, 'download-1to1-case': caseOne, ratioToCase: ratioOf(value, caseOne) },
        note: `wall ${median(runs.map((r) => r.wallRate)).toFixed(0)} MB/s; sources seen ${[...new Set(runs.map((r) => r.sources))].join('/')}${mainTimeCompare(threeMain, oneMain)}${idleText(runs, ones)}${ratio !== null && ratio < RATE_TARGET ? belowOneNote(runs.map((r, i) => r.rate / ones[i]!.rate), undefined, undefined, threeMain, oneMain) : ''}`,
      },
      ...cpuRows(ctx, 'download-3to1', runs),
    ];
  },
};

/**
 * Why 3to1 can trail 1to1 here (profiles in bench/README.md, "download-3to1 against
 * download-1to1"): no process's JS is saturated; four busy processes share the cores; fewer
 * chunks in flight did not help. `pairs`: each 3-source run against the 1-source run before it;
 * `three` and `one`: the downloader's main thread in each (download-sched.ts), which say what grew.
 */
export function belowOneNote(pairs: number[], cores = availableParallelism(), load = loadavg()[0]!, three?: MainTime, one?: MainTime): string {
  const section = three && one ? "Where the downloader's main thread waits" : "download-3to1 against download-1to1, and the seeders' CPU";
  return `; below 1to1 (per pair ${pairs.map((x) => x.toFixed(2)).join(', ')}): 3 seeders + downloader (+ nats) on ${cores} core${cores === 1 ? '' : 's'}, load ${load.toFixed(1)}: ${whatGrew(three, one)} (bench/README.md, "${section}")`;
}

/** The measured reason when the main thread's times are there, else the profiles' finding. */
function whatGrew(three: MainTime | undefined, one: MainTime | undefined): string {
  if (!three || !one) return 'scheduling, not per-source work nor the chunks in flight';
  const wait = three.wait - one.wait;
  const off = three.off - one.off;
  const run = three.run - one.run;
  if (wait >= off && wait >= run) return `the cores: the downloader's main thread waited ${wait.toFixed(2)} s/GiB longer for one while the seeders ran, its own work ${signed(run)} s/GiB, its time without data ${signed(off)}`;
  if (off >= run) return `the downloader's main thread sat ${off.toFixed(2)} s/GiB longer without data (waiting for a core ${signed(wait)}, its own work ${signed(run)}): the sources or the disk, not the cores`;
  return `the downloader's main thread worked ${run.toFixed(2)} s/GiB more (waiting for a core ${signed(wait)}, without data ${signed(off)})`;
}

/** Peak RSS of the downloading peer, MB. */
const RSS_TARGET_MB = 100;

export const peerRss: BenchCase = {
  name: 'peer-rss',
  async run(ctx) {
    const huge = await ctx.files.huge();
    const size = statSync(huge).size;
    const label = `${(size / 1024 ** 3).toFixed(0)} GiB`;
    // with --quick the file is the 1 GiB one: the download-1to1 runs already measured it
    const reused = ctx.opts.quick ? (ctx.shared.get('rss-1to1') as Array<number | undefined> | undefined) : undefined;
    const peaks = reused?.length ? reused : (await downloadRuns(ctx, 'rss', huge, 1, ctx.opts.reps)).map((r) => r.rss);
    const values = peaks.filter((p): p is number => p !== undefined).map((p) => p / MB);
    if (values.length === 0) throw new Error('no RSS sample (is /proc mounted?)');
    const value = median(values);
    return [
      {
        name: 'peer-rss',
        value,
        unit: 'MB',
        baseline: null,
        ratio: null,
        target: RSS_TARGET_MB,
        direction: 'atMost',
        pass: judge(value, RSS_TARGET_MB, 'atMost'),
        runs: values,
        note: `peak RSS of the downloading peer, ${label} download${reused?.length ? ' (the download-1to1 runs)' : ''}`,
      },
    ];
  },
};
