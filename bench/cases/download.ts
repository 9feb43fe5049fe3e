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
import { getFile, startPeer } from '../lib/p2p.js';
import { judge, ratioOf, type CaseResult } from '../lib/report.js';
import { cpuTimes, rssNow, sampleRss } from '../lib/procfs.js';
import { withScope } from '../lib/scope.js';
import { GiB, MB, median, rateMBps } from '../lib/stats.js';
import { downloaderFolder, startSwarm } from '../lib/swarm.js';
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
  /** the peer's minor page faults per GiB (fresh anonymous memory touched, among others) */
  faultsPerGiB?: number | undefined;
  /** of seedCpuPerGiB, the system time */
  seedSysPerGiB?: number | undefined;
  paired?: PairedCopy;
}

/** CPU seconds of `pids` (summed) now, user + system and system alone; undefined if any is gone. */
function cpuOf(pids: number[]): { all: number; sys: number } | undefined {
  const sum = { all: 0, sys: 0 };
  for (const pid of pids) {
    const c = cpuTimes(pid);
    if (c === undefined) return undefined;
    sum.all += c.user + c.sys;
    sum.sys += c.sys;
  }
  return sum;
}

function delta(before: number | undefined, after: number | undefined, bytes: number): number | undefined {
  return before === undefined || after === undefined ? undefined : (after - before) / (bytes / GiB);
}

/** `reps` downloads of `file` from `seeders` seeders, each by a fresh downloader peer. */
export async function downloadRuns(ctx: BenchContext, tag: string, file: string, seeders: number, reps: number, paired = false, runTag = 'dl'): Promise<DownloadRun[]> {
  const size = statSync(file).size;
  return withScope(ctx.scope, async (scope) => {
    const s = await startSwarm(ctx, scope, tag, file, seeders);
    const runs: DownloadRun[] = [];
    for (let i = 0; i < reps; i++) {
      const run: DownloadRun = await withScope(scope, async (rs) => {
        // every downloader is a fresh peer with a fresh key: its id must be new to the swarm's
        // tracker too, which keeps its key bindings across the swarm's restarts
        const id = `${tag}-${runTag}${i + 1}`;
        const dir = await downloaderFolder(ctx, rs, id);
        const peer = await startPeer(rs, s.swarm, dir, id);
        const seedPids = s.seeders.map((p) => p.pid);
        const idleRss = rssNow(peer.pid);
        // the download starts on a settled machine and freshly freed memory, like its paired copy (lib/pages.ts)
        await settledPages(ctx.work, size);
        const rss = sampleRss(peer.pid);
        const cpu0 = cpuTimes(peer.pid);
        const seed0 = cpuOf(seedPids);
        const r = await getFile(rs, s.swarm, id, s.name, 600);
        const cpu1 = cpuTimes(peer.pid);
        const seed1 = cpuOf(seedPids);
        const peak = rss.stop();
        if (!r.ok) throw new Error(`${tag}: download failed (${r.status}): ${r.error}`);
        return {
          rate: rateMBps(size, r.peerMs ?? r.wallMs),
          wallRate: rateMBps(size, r.wallMs),
          rss: peak,
          idleRss,
          sources: r.sources,
          cpuPerGiB: delta(cpu0 && cpu0.user + cpu0.sys, cpu1 && cpu1.user + cpu1.sys, size),
          sysPerGiB: delta(cpu0?.sys, cpu1?.sys, size),
          faultsPerGiB: delta(cpu0?.minorFaults, cpu1?.minorFaults, size),
          seedCpuPerGiB: delta(seed0?.all, seed1?.all, size),
          seedSysPerGiB: delta(seed0?.sys, seed1?.sys, size),
        };
      });
      // the CPU baselines taken right beside the run (the machine's state moves them over a run)
      if (paired) run.paired = await pairedCopy(ctx, file, size, `${tag}-${i + 1}`);
      runs.push(run);
      ctx.log(
        `${tag} run ${i + 1}: ${run.rate.toFixed(0)} MB/s (wall ${run.wallRate.toFixed(0)}), ${run.sources} source(s), peak RSS ${((run.rss ?? 0) / MB).toFixed(0)} MB (idle ${((run.idleRss ?? 0) / MB).toFixed(0)}), CPU/GiB peer ${run.cpuPerGiB?.toFixed(2)} s (sys ${run.sysPerGiB?.toFixed(2)}, ${run.faultsPerGiB?.toFixed(0)} minor faults), seeders ${run.seedCpuPerGiB?.toFixed(2)} s (sys ${run.seedSysPerGiB?.toFixed(2)})${run.paired ? `; paired verified copy: receiver ${run.paired.recvCpuPerGiB?.toFixed(2)} s (sys ${run.paired.recvSysPerGiB?.toFixed(2)}), sender ${run.paired.sendCpuPerGiB?.toFixed(2)} s (sys ${run.paired.sendSysPerGiB?.toFixed(2)})` : ''}`,
      );
    }
    return runs;
  });
}

/** Where a CPU row's excess over its baseline sits, user against system time. */
interface CpuSplit {
  user: number;
  sys: number;
  baselineUser: number;
  baselineSys: number;
}

/**
 * Why a seeder row over its target is over it, from this run: where the excess sits (user or
 * system time), and whether the seeders were over only while fresh. The case keeps its seeders
 * across its runs, so run 1 is a fresh seeder's first transfer and the later runs a warm one's
 * (bench/README.md, "The seeder's CPU").
 */
export function seedCpuWhy(split: CpuSplit | undefined, perRun: Array<number | undefined>): string {
  const sysOver = split ? split.sys - split.baselineSys > split.user - split.baselineUser : false;
  const where = split ? (sysOver ? 'mostly system time' : 'mostly user time') : 'not split';
  const [first, ...rest] = perRun;
  const later = rest.filter((x): x is number => x !== undefined);
  let runs = '';
  if (first !== undefined && later.length > 0) {
    const warmOver = later.every((x) => x > CPU_TARGET);
    runs = `; run 1 (fresh seeders) ${first.toFixed(2)} ×, ${perRun.length > 2 ? `runs 2–${perRun.length}` : 'run 2'} (the same seeders, warm) ${later.map((x) => x.toFixed(2)).join(', ')} ×: ${warmOver ? 'over when warm too, so not the warm-up alone' : 'a warm seeder is within target, so the excess is the fresh process’s warm-up'}`;
  }
  const why = sysOver
    ? '. On loopback the receiver’s TCP processing runs partly in the sender’s context (softirq), and the downloading peer receives unlike the verified copy’s sink, which the pairing cannot separate (bench/micro/receiver-pace.ts: one plain sender’s system time moves about 0.1 s/GiB with its reader alone)'
    : '. A fresh seeder pays the JIT warm-up of its request path and, on a VM that hands freed memory back to its host, the first touch of its new buffers and socket memory (a perf of one seeder over four GiB: the same kernel copies 3–4 × the samples in its first; bench/README.md, "The fresh seeder\'s first GiB"); 3to1: each of 3 seeders on a third of the file. bench/micro/serve-cpu.ts measures the serve path alone, cold and warm';
  return `. Over target: the excess is ${where}${runs}${why}`;
}

/** Target of the CPU-per-GiB rows: at most this × the plain process doing the same work. */
export const CPU_TARGET = 1.15;

/**
 * The two CPU rows beside download row `name`: `${name}-cpu` (the downloading peer, against
 * verified-copy's receiver) and `${name}-seed-cpu` (the seeders together, against the plain
 * file-to-socket sender).
 */
export function cpuRows(ctx: BenchContext, name: string, runs: DownloadRun[]): CaseResult[] {
  const defined = (xs: Array<number | undefined>) => xs.filter((x): x is number => x !== undefined);
  // ours and the paired baseline's per run (total and system time): the rows' medians, each run's ratio, the split
  type Pick = (r: DownloadRun) => number | undefined;
  const row = (suffix: string, ours: Pick, theirs: Pick, oursSys: Pick, theirsSys: Pick, caseBaselineOf: string, note: string, whyOver?: (split: CpuSplit | undefined, perRun: Array<number | undefined>) => string): CaseResult => {
    const values = defined(runs.map(ours));
    const paired = defined(runs.map(theirs));
    const sys = { ours: defined(runs.map(oursSys)), theirs: defined(runs.map(theirsSys)) };
    // each run against the verified copy made right after it
    const perRun = runs.map((r) => ratioOf(ours(r) ?? null, theirs(r) ?? null) ?? undefined);
    const value = values.length ? median(values) : null;
    // the verified copy made right after each run when there is one; else the case's, earlier in the run
    const caseBaseline = valueOf(ctx, caseBaselineOf);
    const baseline = paired.length ? median(paired) : caseBaseline;
    const baselineOf = paired.length ? `${caseBaselineOf} (paired: a verified copy right after each run)` : caseBaselineOf;
    const ratio = ratioOf(value, baseline);
    // where the difference sits: kernel (system) or user space, ours against the baseline's
    const split: CpuSplit | undefined = value !== null && baseline !== null && sys.ours.length && sys.theirs.length ? { sys: median(sys.ours), user: value - median(sys.ours), baselineSys: median(sys.theirs), baselineUser: baseline - median(sys.theirs) } : undefined;
    const splitText = split ? `; user ${split.user.toFixed(2)} + system ${split.sys.toFixed(2)} against the baseline's ${split.baselineUser.toFixed(2)} + ${split.baselineSys.toFixed(2)}` : '';
    const detail = { perRunRatios: perRun.map((x) => (x === undefined ? null : Math.round(x * 1000) / 1000)), pairedBaselines: paired, [`${caseBaselineOf}-case`]: caseBaseline, sysRuns: sys.ours, baselineSysRuns: sys.theirs, split };
    const pass = judge(ratio, CPU_TARGET, 'atMost');
    return { name: `${name}${suffix}`, value, unit: 's/GiB', baseline, baselineOf, ratio, target: CPU_TARGET, direction: 'atMost', pass, runs: values, detail, note: note + splitText + (pass === false && whyOver ? whyOver(split, perRun) : '') };
  };
  return [
    row('-cpu', (r) => r.cpuPerGiB, (r) => r.paired?.recvCpuPerGiB, (r) => r.sysPerGiB, (r) => r.paired?.recvSysPerGiB, 'verified-copy-cpu', 'downloading peer: CPU s (user+sys, /proc) per GiB, intent to verified file'),
    row('-seed-cpu', (r) => r.seedCpuPerGiB, (r) => r.paired?.sendCpuPerGiB, (r) => r.seedSysPerGiB, (r) => r.paired?.sendSysPerGiB, 'file-send-cpu', 'seeder(s), summed: CPU s (user+sys, /proc) per GiB served', seedCpuWhy),
  ];
}

function detailOf(runs: DownloadRun[]): Record<string, unknown> {
  return {
    wallRateMBps: median(runs.map((r) => r.wallRate)),
    wallRuns: runs.map((r) => Math.round(r.wallRate)),
    sources: runs.map((r) => r.sources),
    peakRssMB: runs.map((r) => Math.round((r.rss ?? 0) / MB)),
    idleRssMB: runs.map((r) => Math.round((r.idleRss ?? 0) / MB)),
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
        (pairedRate !== null && caseRatio !== null && verified !== null ? `; ${caseRatio.toFixed(2)}× the verified-copy case (${verified.toFixed(0)} MB/s, minutes earlier in the run)` : ''),
    };
    return [row, ...cpuRows(ctx, 'download-1to1', runs)];
  },
};

export const download3to1: BenchCase = {
  name: 'download-3to1',
  rows: ['download-3to1', 'download-3to1-cpu', 'download-3to1-seed-cpu'],
  async run(ctx) {
    // each 3-source run right after a 1-source run of the same file (same seeder folders, hash
    // caches kept): the ratio of two moments a few seconds apart, not of two ends of the run
    const file = await ctx.files.big();
    const runs: DownloadRun[] = [];
    const ones: DownloadRun[] = [];
    for (let i = 0; i < ctx.opts.reps; i++) {
      ones.push(...(await downloadRuns(ctx, 'd1', file, 1, 1, false, `paired${i + 1}-`)));
      runs.push(...(await downloadRuns(ctx, 'd3', file, 3, 1, true, `dl${i + 1}-`)));
    }
    const value = median(runs.map((r) => r.rate));
    const one = median(ones.map((r) => r.rate));
    const ratio = ratioOf(value, one);
    const caseOne = valueOf(ctx, 'download-1to1');
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
        detail: { ...detailOf(runs), pairedOneSourceRuns: ones.map((r) => Math.round(r.rate)), 'download-1to1-case': caseOne, ratioToCase: ratioOf(value, caseOne) },
        note: `wall ${median(runs.map((r) => r.wallRate)).toFixed(0)} MB/s; sources seen ${[...new Set(runs.map((r) => r.sources))].join('/')}${ratio !== null && ratio < RATE_TARGET ? belowOneNote() : ''}`,
      },
      ...cpuRows(ctx, 'download-3to1', runs),
    ];
  },
};

/**
 * Why 3to1 can trail 1to1 here (profiles in bench/README.md, "download-3to1 against
 * download-1to1"): no process's JS is saturated; four busy processes share the cores.
 */
function belowOneNote(): string {
  const cores = availableParallelism();
  return `; below 1to1: 3 seeders + downloader (+ nats) on ${cores} core${cores === 1 ? '' : 's'}, load ${loadavg()[0]!.toFixed(1)}: scheduling, not per-source work (bench/README.md)`;
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
