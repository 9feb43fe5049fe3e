// announce-rate's steps: signed re-announces at a fixed rate with a probe beside them (lookups and
// NATS echoes at PROBE_RATE each, interleaved request by request). A step holds when every
// announce and probe is answered, ≥ 95 % of the announces within the step, and the lookup p99
// stays ≤ `ratioLimit` × the echo p99 of the same step: a stall of the shared machine lands on
// both sides alike, while a tracker falling behind its announces delays only the lookups.
// Rates double, then are bisected; the value is the offered rate of the best step that held.
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { openLoop } from './load.js';
import { pairWindow, tailsOf, type Tails } from './latency-window.js';
import type { AnnounceSender } from './registry-load.js';
import { latencySummary, round } from './stats.js';

type Sender = (i: number) => Promise<unknown>;
type Pauses = ReadonlyArray<{ at: number; ms: number; kind?: string }>;

/** lookups/s (and as many echoes) kept up while announces are stepped up */
export const PROBE_RATE = 1000;
export const ANNOUNCE_STEPS = [50, 100, 200, 400, 800, 1600, 3200, 6400];

export interface Step {
  offered: number;
  absorbed: number;
  /** the probe's lookup p99, ms */
  p99: number;
  /** the echo p99 of the same step, ms */
  echoP99: number;
  /** p99 / echoP99: what the step is judged on */
  ratio: number;
  /** p99 against the quiet probe's p99 before the steps (the criterion before 2026-12-03: ≤ 2) */
  vsQuiet: number;
  errors: number;
  good: boolean;
  /** p99 of the bench process's event-loop delay during the step, ms */
  benchLoopP99: number;
  /** its longest delay, ms */
  benchLoopMax: number;
  /** the tracker's GC pauses during the step (--trace-gc) */
  trackerGc: { pauses: number; maxMs: number; totalMs: number; /** the kind of each pause over GC_STALL_MS (Scavenge, Mark-Compact) */ long?: string[] };
  /** where the lookups' and the echoes' slowest 1 % sit in time */
  tail: Tails;
}

export interface Probe {
  lookup: Sender;
  echo: Sender;
}

export interface RateResult {
  best: number;
  /** the quiet probe's lookup and echo p99, ms */
  baseP99: number;
  baseEchoP99: number;
  steps: Step[];
}

function probeWindow(probe: Probe, ms: number) {
  return pairWindow(PROBE_RATE, ms, probe.lookup, probe.echo);
}

/** One announce step: announces at `rate`/s with the probe running beside them. */
async function announceStep(rate: number, ms: number, announce: AnnounceSender, probe: Probe, ratioLimit: number, baseP99: number, gc: Pauses): Promise<Step> {
  announce.prepare(Math.max(1, Math.round((rate * ms) / 1000)));
  const t0 = performance.now();
  // the bench process sends and times everything: how late its own event loop ran
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const [a, [l, e]] = await Promise.all([openLoop(rate, ms, announce), probeWindow(probe, ms)]);
  loop.disable();
  const inStep = gc.filter((g) => g.at >= t0);
  const paused = inStep.map((g) => g.ms);
  const long = inStep.filter((g) => g.ms > GC_STALL_MS).map((g) => g.kind ?? 'GC');
  const absorbed = a.ok / (Math.max(ms, a.elapsedMs) / 1000);
  const p99 = latencySummary(l.latencies).p99;
  const echoP99 = latencySummary(e.latencies).p99;
  const ratio = p99 / echoP99;
  const errors = a.errors + l.errors + e.errors;
  return {
    offered: rate,
    absorbed,
    p99,
    echoP99,
    ratio: round(ratio, 2)!,
    vsQuiet: round(p99 / baseP99, 2)!,
    errors,
    good: errors === 0 && ratio <= ratioLimit && absorbed >= 0.95 * rate,
    benchLoopP99: round(loop.percentile(99) / 1e6, 2)!,
    benchLoopMax: round(loop.max / 1e6, 2)!,
    trackerGc: { pauses: paused.length, maxMs: round(Math.max(0, ...paused), 2)!, totalMs: round(paused.reduce((x, y) => x + y, 0), 1)!, long },
    tail: tailsOf(l, p99, e, echoP99),
  };
}

/**
 * A step that fails is run once more before it counts as failed (an overload fails both times);
 * both attempts are kept in the row's detail.
 */
async function confirmedStep(rate: number, run: (rate: number) => Promise<Step>, steps: Step[]): Promise<Step> {
  const first = await run(rate);
  steps.push(first);
  if (first.good) return first;
  const again = await run(rate);
  steps.push(again);
  return again;
}

/** Step announces up (doubling, then bisecting `bisections` times); the best rate that held. */
export async function announceRate(ms: number, announce: AnnounceSender, probe: Probe, ratioLimit: number, gc: Pauses, bisections: number): Promise<RateResult> {
  // the quiet probe, half a second of warm-up first: for the detail (vsQuiet), not the judgement
  await probeWindow(probe, 500);
  const [bl, be] = await probeWindow(probe, 2 * ms);
  const baseP99 = latencySummary(bl.latencies).p99;
  const baseEchoP99 = latencySummary(be.latencies).p99;
  const run = (rate: number) => announceStep(rate, ms, announce, probe, ratioLimit, baseP99, gc);
  const steps: Step[] = [];
  let good: Step | undefined;
  let bad: Step | undefined;
  for (const rate of ANNOUNCE_STEPS) {
    const step = await confirmedStep(rate, run, steps);
    if (!step.good) {
      bad = step;
      break;
    }
    good = step;
  }
  for (let b = 0; bad && b < bisections; b++) {
    const low = good?.offered ?? 0;
    const rate = Math.round((low + bad.offered) / 2);
    if (rate <= low || rate >= bad.offered) break;
    const step = await confirmedStep(rate, run, steps);
    if (step.good) good = step;
    else bad = step;
  }
  // the rate of the best step that held (`absorbed`, answers over the window until the last
  // answer, counts the last answer's latency as lost time: 996/s for a 1 000/s step all of whose
  // 4 000 announces were answered)
  return { best: good ? good.offered : 0, baseP99, baseEchoP99, steps };
}

/** A tracker GC pause longer than this in a step is counted as a stall of its own in `failedStepsText`. */
export const GC_STALL_MS = 5;

/**
 * What the failed steps under `target`/s had, from their own figures: tracker GC pauses over
 * GC_STALL_MS, bursts of slow lookups while the echoes had none (a stall of the tracker alone),
 * announces not absorbed, errors. Empty when no step under the target failed.
 */
export function failedStepsText(rates: RateResult[], target: number): string {
  const failed = rates.flatMap((r) => r.steps).filter((st) => !st.good && st.offered < target);
  if (failed.length === 0) return '';
  const gc = failed.filter((st) => st.trackerGc.maxMs > GC_STALL_MS);
  const lookupOnly = failed.filter((st) => st.tail.lookups.bursts > 0 && st.tail.echoes.bursts === 0);
  const short = failed.filter((st) => st.absorbed < 0.95 * st.offered);
  const errors = failed.filter((st) => st.errors > 0);
  const longest = Math.max(...gc.map((st) => st.trackerGc.maxMs));
  const held = rates.flatMap((r) => r.steps).filter((st) => st.good);
  const heldGc = held.filter((st) => st.trackerGc.maxMs > GC_STALL_MS).length;
  const at = [...new Set(failed.map((st) => st.offered))].sort((a, b) => a - b).join(', ');
  const kinds = countKinds(gc.flatMap((st) => st.trackerGc.long ?? []));
  return (
    `. ${failed.length} step${failed.length === 1 ? '' : 's'} under ${target}/s failed (at ${at}/s): ` +
    `${gc.length} with a tracker GC pause over ${GC_STALL_MS} ms${gc.length ? ` (longest ${longest.toFixed(1)} ms${kinds ? `; ${kinds}` : ''})` : ''}, ` +
    `${lookupOnly.length} with bursts of slow lookups and none of slow echoes, ${short.length} with announces not absorbed, ${errors.length} with errors; ` +
    `of the ${held.length} steps that held, ${heldGc} had such a GC pause`
  );
}

/** "3 Scavenge, 1 Mark-Compact": how many long pauses of each kind. */
function countKinds(kinds: string[]): string {
  const n = new Map<string, number>();
  for (const k of kinds) n.set(k, (n.get(k) ?? 0) + 1);
  return [...n].map(([k, c]) => `${c} ${k}`).join(', ');
}
