// One measured window of lookup-latency: lookups and NATS echoes at the same offered rate,
// interleaved request by request (or, with BENCH_LATENCY_SLICES=1, in alternating slices),
// optionally with signed re-announces sent beside them at a fixed rate (the issue's "while
// announces run"). Reports both sides' latencies, the tracker's CPU per lookup and its GC pauses
// in the window, and where the slowest answers sit in time.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { interleaved, openLoop, openLoopMixed, tailBursts, type LoadResult, type TailBursts } from './load.js';
import { cpuSeconds } from './procfs.js';
import type { AnnounceSender } from './registry-load.js';
import { latencySummary, median, round } from './stats.js';

type Sender = (i: number) => Promise<unknown>;
export type Latency = ReturnType<typeof latencySummary>;
export type GcPause = { at: number; ms: number; kind: string };

/** with BENCH_LATENCY_SLICES=1, lookups and echoes alternate in slices this long */
export const SLICE_MS = 250;
export const SLICES = process.env.BENCH_LATENCY_SLICES === '1';

export interface GcSummary {
  pauses: number;
  perSecond: number;
  medianMs: number;
  maxMs: number;
  /** share of the window the tracker stood still for its GC */
  pausedPct: number;
}

export function gcSummary(ms: number[], windowMs: number): GcSummary {
  const sum = ms.reduce((a, b) => a + b, 0);
  return { pauses: ms.length, perSecond: round(ms.length / (windowMs / 1000), 1)!, medianMs: round(median(ms), 2)!, maxMs: round(Math.max(0, ...ms), 2)!, pausedPct: round((100 * sum) / windowMs, 2)! };
}

export function gcText(g: GcSummary | undefined): string {
  return g ? `${g.pauses} pauses (${g.perSecond}/s), median ${g.medianMs} ms, max ${g.maxMs} ms, ${g.pausedPct} % of the time` : '?';
}

export interface Tails {
  lookups: TailBursts;
  echoes: TailBursts;
}

/** Lookups and echoes at `rate` each for `ms`, interleaved request by request. */
export async function pairWindow(rate: number, ms: number, lookup: Sender, echo: Sender): Promise<[LoadResult, LoadResult]> {
  return (await openLoopMixed(rate, ms, [lookup, echo])) as [LoadResult, LoadResult];
}

/** Where each side's slowest 1 % sits in time (its answers at or over its own p99). */
export function tailsOf(l: LoadResult, lookupP99: number, e: LoadResult, echoP99: number): Tails {
  return { lookups: tailBursts(l, lookupP99), echoes: tailBursts(e, echoP99) };
}

export function tailText(t: Tails | undefined): string {
  const one = (b: TailBursts) => `${b.inBurstsPct} % in ${b.bursts} bursts (longest ${b.longestMs} ms)`;
  return t ? `answers ≥ p99: lookups ${one(t.lookups)}, echoes ${one(t.echoes)}` : '';
}

export interface WindowReport {
  lookup: Latency;
  echo: Latency;
  errors: number;
  samples: string[];
  gc: GcSummary;
  tails: Tails;
  /** tracker CPU µs per lookup answered (only in a window without announces: they cost it too) */
  trackerCpuPerLookupUs?: number;
  echoCpuPerAnswerUs?: number;
  /** the announces sent beside the lookups, if any */
  announces?: { offeredPerSecond: number; sent: number; ok: number; errors: number; p50: number; p99: number };
}

export interface WindowSetup {
  rate: number;
  windowMs: number;
  lookup: Sender;
  echo: Sender;
  trackerPid: number;
  echoPid: number;
  gcPauses: GcPause[];
  /** BENCH_LATENCY_DUMP: where to write every answer's due time and latency */
  dumpAs?: string;
}

function dumpWindow(dir: string, name: string, lookups: LoadResult, echoes: LoadResult, gc: GcPause[]): void {
  mkdirSync(dir, { recursive: true });
  const pairs = (r: LoadResult) => r.dues.map((d, k) => [round(d, 3), round(r.latencies[k]!, 3)]);
  writeFileSync(join(dir, `${name}.json`), JSON.stringify({ lookups: pairs(lookups), echoes: pairs(echoes), gc }));
}

/**
 * One window: half a second of lookups to warm up, then lookups and echoes; with `announcing`,
 * re-announces (signed before the window) go out at their own rate for the same time.
 */
export async function latencyWindow(w: WindowSetup, announcing?: { rate: number; send: AnnounceSender }): Promise<WindowReport> {
  await openLoop(w.rate, 500, w.lookup); // warm-up
  const runMs = SLICES ? w.windowMs : w.windowMs / 2;
  if (announcing) announcing.send.prepare(Math.max(1, Math.round((announcing.rate * runMs) / 1000)));
  const before = cpuSeconds(w.trackerPid);
  const echoBefore = cpuSeconds(w.echoPid);
  const windowStart = performance.now();
  // lookups and echoes request by request, so every stall of the machine lands on both alike
  // (BENCH_LATENCY_SLICES=1: the earlier 250 ms slices, which let a stall hit one side only)
  const pair = SLICES ? interleaved(w.rate, w.windowMs, SLICE_MS, w.lookup, w.echo) : pairWindow(w.rate, runMs, w.lookup, w.echo);
  const [[l, e], a] = await Promise.all([pair, announcing ? openLoop(announcing.rate, runMs, announcing.send) : undefined]);
  const after = cpuSeconds(w.trackerPid);
  const echoAfter = cpuSeconds(w.echoPid);
  const inWindow = w.gcPauses.filter((g) => g.at >= windowStart);
  if (process.env.BENCH_LATENCY_DUMP && w.dumpAs) dumpWindow(process.env.BENCH_LATENCY_DUMP, w.dumpAs, l, e, inWindow);
  const lookup = latencySummary(l.latencies);
  const echo = latencySummary(e.latencies);
  const perUs = (b: number | undefined, x: number | undefined, n: number) => (b !== undefined && x !== undefined && n > 0 ? (round(((x - b) / n) * 1e6, 1) ?? undefined) : undefined);
  const annLatency = a ? latencySummary(a.latencies) : undefined;
  return {
    lookup,
    echo,
    errors: l.errors + e.errors + (a?.errors ?? 0),
    samples: [...e.errorSamples, ...l.errorSamples, ...(a?.errorSamples ?? [])],
    gc: gcSummary(
      inWindow.map((g) => g.ms),
      performance.now() - windowStart,
    ),
    // where each side's slowest 1 % sits in time: in a few bursts (stalls) or spread out
    tails: tailsOf(l, lookup.p99, e, echo.p99),
    trackerCpuPerLookupUs: a ? undefined : perUs(before, after, l.ok),
    // the echo responder's CPU per answer: the bus client's own share, which a lookup pays too
    echoCpuPerAnswerUs: perUs(echoBefore, echoAfter, e.ok),
    announces:
      a && announcing
        ? { offeredPerSecond: announcing.rate, sent: a.sent, ok: a.ok, errors: a.errors, p50: round(annLatency!.p50, 2)!, p99: round(annLatency!.p99, 2)! }
        : undefined,
  };
}
