// The CPU rows beside a download row (bench/cases/download.ts): the downloading peer's CPU per GiB
// against the paired verified copy's receiver, the seeders' against its plain sender; each with
// where the difference sits (user or system time; for the downloader, its main thread or the
// others) and, when over target, why, from the run's own figures.
import type { BenchContext } from '../lib/context.js';
import { valueOf } from '../lib/context.js';
import { judge, ratioOf, type CaseResult } from '../lib/report.js';
import { median } from '../lib/stats.js';
import type { DownloadRun } from './download.js';
import { signed } from './download-sched.js';

/** Where a CPU row's excess over its baseline sits, user against system time. */
export interface CpuSplit {
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
export function seedCpuWhy(split: CpuSplit | undefined, perRun: Array<number | undefined>, threads?: ThreadSplit): string {
  const sysOver = split ? split.sys - split.baselineSys > split.user - split.baselineUser : false;
  const where = split ? (sysOver ? 'mostly system time' : 'mostly user time') : 'not split';
  const [first, ...rest] = perRun;
  const later = rest.filter((x): x is number => x !== undefined);
  let runs = '';
  let warmOver = false;
  if (first !== undefined && later.length > 0) {
    warmOver = later.every((x) => x > CPU_TARGET);
    runs = `; run 1 (fresh seeders) ${first.toFixed(2)} ×, ${perRun.length > 2 ? `runs 2–${perRun.length}` : 'run 2'} (the same seeders, warm) ${later.map((x) => x.toFixed(2)).join(', ')} ×: ${warmOver ? 'over when warm too, so not the warm-up alone' : 'a warm seeder is within target, so the excess is the fresh process’s warm-up'}`;
  }
  // warm seeders over too, with the split by thread: the warm-up story does not fit, the split says where
  const warmWhy = '. The same seeders warm are over too: per chunk, their event loop parses a request, copies the chunk from the page cache (the plain sender copies its 1 MiB blocks on libuv\'s pool, so that copy counts in its other threads) and writes a frame. Not the peer around the serve path (idle, the seeders take a few ms a second: the idle figure above): the serve path alone, beside a reader that writes what it gets as a downloader does, costs more than a plain sender, and three of them 1.1–2.3 × three plain senders (bench/micro/serve-cpu.ts, SERVE_CPU_WRITE=1, SERVE_CPU_SERVERS=3): their user time halves after the first GiB and stays, their system time does not fall, and in perf their copies from the page cache take twice the plain senders\' share (bench/README.md, "The serve path beside a writing reader" and "Where a chunk lands in its send buffer")';
  const why = sysOver
    ? '. On loopback the receiver’s TCP processing runs partly in the sender’s context (softirq), and the downloading peer receives unlike the verified copy’s sink, which the pairing cannot separate (bench/micro/receiver-pace.ts: one plain sender’s system time moves about 0.1 s/GiB with its reader alone)'
    : warmOver && threads && threads.main - threads.baselineMain >= threads.others - threads.baselineOthers
      ? warmWhy
      : '. A fresh seeder pays the JIT warm-up of its request path and, on a VM that hands freed memory back to its host, the first touch of its new buffers and socket memory (a perf of one seeder over four GiB: the same kernel copies 3–4 × the samples in its first; bench/README.md, "The fresh seeder\'s first GiB"); 3to1: each of 3 seeders on a third of the file. bench/micro/serve-cpu.ts measures the serve path alone, cold and warm';
  return `. Over target: the excess is ${where}${threads ? `, ${threadsWhere(threads, 'the main threads (the event loop: requests, chunk reads from the page cache, socket writes)')}` : ''}${runs}${why}`;
}

/** "+0.10 s/GiB in the main threads …, +0.02 in the other threads": which side holds the excess. */
function threadsWhere(t: ThreadSplit, mainIs: string): string {
  const mainOver = t.main - t.baselineMain;
  const othersOver = t.others - t.baselineOthers;
  return mainOver >= othersOver
    ? `${signed(mainOver)} s/GiB in ${mainIs} and ${signed(othersOver)} in the other threads`
    : `${signed(othersOver)} s/GiB in the other threads (V8's helpers; libuv's pool for reads the page cache could not serve) and ${signed(mainOver)} in the main threads`;
}

/** The downloader's CPU per GiB by thread, against the receiver's: the main thread and the rest. */
export interface ThreadSplit {
  /** the main thread: the event loop (socket reads, SHA-256, the protocol) */
  main: number;
  /** every other thread: libuv's pool (the file writes) and V8's helpers (GC, compiler) */
  others: number;
  baselineMain: number;
  baselineOthers: number;
}

/** Medians over the runs that have both sides' main-thread figures; undefined when none does. */
export function threadSplit(runs: DownloadRun[]): ThreadSplit | undefined {
  return splitBy(runs, (r) => r.mainPerGiB, (r) => r.cpuPerGiB, (r) => r.paired?.recvMainPerGiB, (r) => r.paired?.recvCpuPerGiB);
}

/** The same for the seeders (summed: their main threads and the rest) against the plain sender's. */
export function seedThreadSplit(runs: DownloadRun[]): ThreadSplit | undefined {
  return splitBy(runs, (r) => r.seedMainPerGiB, (r) => r.seedCpuPerGiB, (r) => r.paired?.sendMainPerGiB, (r) => r.paired?.sendCpuPerGiB);
}

type Figure = (r: DownloadRun) => number | undefined;

function splitBy(runs: DownloadRun[], main: Figure, all: Figure, baseMain: Figure, baseAll: Figure): ThreadSplit | undefined {
  const both = runs.filter((r) => main(r) !== undefined && all(r) !== undefined && baseMain(r) !== undefined && baseAll(r) !== undefined);
  if (both.length === 0) return undefined;
  const m = (f: (r: DownloadRun) => number) => median(both.map(f));
  return {
    main: m((r) => main(r)!),
    others: m((r) => all(r)! - main(r)!),
    baselineMain: m((r) => baseMain(r)!),
    baselineOthers: m((r) => baseAll(r)! - baseMain(r)!),
  };
}

export function threadText(t: ThreadSplit | undefined, baseline = "the receiver's", ours = 'main thread'): string {
  return t ? `; ${ours} ${t.main.toFixed(2)} + other threads ${t.others.toFixed(2)} against ${baseline} ${t.baselineMain.toFixed(2)} + ${t.baselineOthers.toFixed(2)}` : '';
}

/**
 * Why the downloading peer's row is over its target, from this run: which of its threads hold the
 * excess over the receiver's, and what a profile of such a run found in each (bench/README.md,
 * "The downloader's threads").
 */
export function downloaderCpuWhy(t: ThreadSplit | undefined): string {
  if (!t) return '. Over target: not split by thread';
  const mainOver = t.main - t.baselineMain;
  const othersOver = t.others - t.baselineOthers;
  const where = othersOver > 0 && mainOver > 0 ? 'in both' : othersOver >= mainOver ? 'in the other threads' : 'in the main thread';
  const parts = [`main thread ${signed(mainOver)} s/GiB, other threads ${signed(othersOver)}`];
  if (othersOver > 0) parts.push('the other threads: libuv’s pool writing the chunks’ pieces together, which spin on the file’s inode lock while one copies into the page cache, and V8’s compiler and concurrent marking in a fresh process');
  if (mainOver > 0) parts.push('the main thread does the same SHA-256 and socket reads as the receiver’s, and the same GiB’s SHA-256 has cost a third more in one of two processes of the same run (2 vCPUs that share a host)');
  return `. Over target: the excess is ${where} (${parts.join('; ')}; bench/README.md, "The downloader's threads")`;
}

/**
 * The seed row's second baseline where the runs have one: as many plain senders as seeders, each
 * sending its part of the file, and what the seeders sent (× the file) from their own counters.
 */
export function sendersText(runs: DownloadRun[]): { text: string; detail: Record<string, unknown> } {
  const sentX = runs.map((r) => r.seedSentX).filter((x): x is number => x !== undefined);
  const idle = runs.flatMap((r) => (r.seedIdleCpuPerS !== undefined && r.seedIdlePerGiB !== undefined ? [{ perS: r.seedIdleCpuPerS, perGiB: r.seedIdlePerGiB }] : []));
  // what their daemons cost per second doing nothing, over each get's time: the per-second part of the row
  const idleText = idle.length ? `; idle, the seeders took ${(median(idle.map((x) => x.perS)) * 1000).toFixed(1)} ms/s, ${median(idle.map((x) => x.perGiB)).toFixed(3)} s/GiB over a get's time` : '';
  const sent = (sentX.length ? `; the seeders sent ${median(sentX).toFixed(3)} × the file` : '') + idleText;
  const pairs = runs.flatMap((r) => (r.pairedSenders?.sendCpuPerGiB !== undefined && r.seedCpuPerGiB !== undefined ? [{ ours: r.seedCpuPerGiB, theirs: r.pairedSenders.sendCpuPerGiB }] : []));
  const detail: Record<string, unknown> = { seedSentX: sentX };
  if (idle.length) {
    detail.seedIdleMsPerS = idle.map((x) => Math.round(x.perS * 10_000) / 10);
    detail.seedIdlePerGiB = idle.map((x) => Math.round(x.perGiB * 1000) / 1000);
  }
  if (!pairs.length) return { text: sent, detail };
  const theirs = median(pairs.map((p) => p.theirs));
  const ratios = pairs.map((p) => p.ours / p.theirs);
  detail.plainSendersPerGiB = pairs.map((p) => p.theirs);
  detail.plainSendersRatios = ratios.map((x) => Math.round(x * 1000) / 1000);
  return { text: `${sent}; as many plain senders, each sending its part over its own connection: ${theirs.toFixed(2)} s/GiB, the seeders ${ratios.map((x) => x.toFixed(2)).join(', ')} × that run by run`, detail };
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
  const row = (suffix: string, ours: Pick, theirs: Pick, oursSys: Pick, theirsSys: Pick, caseBaselineOf: string, note: string, whyOver?: (split: CpuSplit | undefined, perRun: Array<number | undefined>) => string, more?: { text: string; detail: Record<string, unknown> }): CaseResult => {
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
    const detail = { perRunRatios: perRun.map((x) => (x === undefined ? null : Math.round(x * 1000) / 1000)), pairedBaselines: paired, [`${caseBaselineOf}-case`]: caseBaseline, sysRuns: sys.ours, baselineSysRuns: sys.theirs, split, ...more?.detail };
    const pass = judge(ratio, CPU_TARGET, 'atMost');
    return { name: `${name}${suffix}`, value, unit: 's/GiB', baseline, baselineOf, ratio, target: CPU_TARGET, direction: 'atMost', pass, runs: values, detail, note: note + splitText + (more?.text ?? '') + (pass === false && whyOver ? whyOver(split, perRun) : '') };
  };
  const threads = threadSplit(runs);
  const threadDetail = { threads, mainRuns: defined(runs.map((r) => r.mainPerGiB)), baselineMainRuns: defined(runs.map((r) => r.paired?.recvMainPerGiB)) };
  const seedThreads = seedThreadSplit(runs);
  const seedThreadDetail = { threads: seedThreads, mainRuns: defined(runs.map((r) => r.seedMainPerGiB)), baselineMainRuns: defined(runs.map((r) => r.paired?.sendMainPerGiB)) };
  const senders = sendersText(runs);
  return [
    row('-cpu', (r) => r.cpuPerGiB, (r) => r.paired?.recvCpuPerGiB, (r) => r.sysPerGiB, (r) => r.paired?.recvSysPerGiB, 'verified-copy-cpu', 'downloading peer: CPU s (user+sys, /proc) per GiB, intent to verified file', () => downloaderCpuWhy(threads), { text: threadText(threads), detail: threadDetail }),
    row('-seed-cpu', (r) => r.seedCpuPerGiB, (r) => r.paired?.sendCpuPerGiB, (r) => r.seedSysPerGiB, (r) => r.paired?.sendSysPerGiB, 'file-send-cpu', 'seeder(s), summed: CPU s (user+sys, /proc) per GiB served', (split, perRun) => seedCpuWhy(split, perRun, seedThreads), { text: threadText(seedThreads, "the plain sender's", 'main threads') + senders.text, detail: { ...seedThreadDetail, ...senders.detail } }),
  ];
}

