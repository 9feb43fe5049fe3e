// Open-loop load: requests are sent on a fixed schedule whatever the answers do, and each
// latency is measured from the moment the request was due (not when it happened to go out),
// so a stall on either side shows up in the tail instead of hiding it (no coordinated omission).
import { performance } from 'node:perf_hooks';

export interface LoadResult {
  /** latency of each answered request, ms */
  latencies: number[];
  /** when each answered request was due (performance.now(), ms), beside `latencies` */
  dues: number[];
  sent: number;
  ok: number;
  errors: number;
  /** a few error messages, for the report */
  errorSamples: string[];
  /** from the first due time to the last answer, ms */
  elapsedMs: number;
}

function emptyResult(): LoadResult {
  return { latencies: [], dues: [], sent: 0, ok: 0, errors: 0, errorSamples: [], elapsedMs: 0 };
}

/**
 * Send `rate` requests per second for `durationMs` (bounded: rate × duration requests), each
 * through `send(i)` (which rejects on a bad answer), and wait for every answer.
 */
export async function openLoop(rate: number, durationMs: number, send: (i: number) => Promise<unknown>): Promise<LoadResult> {
  const result = emptyResult();
  result.elapsedMs = await openLoopInto(rate, durationMs, send, () => result);
  return result;
}

/**
 * Several senders at `rate` each, their requests interleaved one by one (sender k's j-th request
 * due at (j + k/n) / rate), each measured apart: a stall of the machine lands on all of them alike,
 * however short it is (slices of 250 ms let a 30 ms stall fall on one side only).
 */
export async function openLoopMixed(rate: number, durationMs: number, senders: Array<(i: number) => Promise<unknown>>): Promise<LoadResult[]> {
  const n = senders.length;
  const results = senders.map(emptyResult);
  const elapsedMs = await openLoopInto(rate * n, durationMs, (i) => senders[i % n]!(Math.floor(i / n)), (i) => results[i % n]!);
  for (const r of results) r.elapsedMs = elapsedMs;
  return results;
}

/** The open loop itself: request i is counted in `resultOf(i)`; resolves with the elapsed ms. */
function openLoopInto(rate: number, durationMs: number, send: (i: number) => Promise<unknown>, resultOf: (i: number) => LoadResult): Promise<number> {
  const total = Math.max(1, Math.round((rate * durationMs) / 1000));
  return new Promise((resolve) => {
    const t0 = performance.now();
    let sent = 0;
    let inflight = 0;
    let finished = false;
    const maybeDone = () => {
      if (finished || sent < total || inflight > 0) return;
      finished = true;
      resolve(performance.now() - t0);
    };
    const fire = (i: number) => {
      const due = t0 + (i * 1000) / rate;
      const result = resultOf(i);
      inflight++;
      sent++;
      result.sent++;
      send(i).then(
        () => {
          result.ok++;
          result.latencies.push(performance.now() - due);
          result.dues.push(due);
        },
        (err: Error) => {
          result.errors++;
          if (result.errorSamples.length < 3) result.errorSamples.push(err.message);
        },
      ).finally(() => {
        inflight--;
        maybeDone();
      });
    };
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - t0) * rate) / 1000) + 1);
      while (sent < due) fire(sent);
      if (sent >= total) {
        clearInterval(timer);
        maybeDone();
      }
    };
    const timer = setInterval(tick, 1);
    tick();
  });
}

/**
 * Two senders measured in alternating slices (A B B A …) at the same rate, `totalMs` each, so a
 * stall of the machine (shared, two cores) lands on both rather than on whichever ran second.
 */
export async function interleaved(rate: number, totalMs: number, sliceMs: number, a: (i: number) => Promise<unknown>, b: (i: number) => Promise<unknown>): Promise<[LoadResult, LoadResult]> {
  const out: [LoadResult, LoadResult] = [emptyResult(), emptyResult()];
  const add = (into: LoadResult, r: LoadResult) => {
    for (const l of r.latencies) into.latencies.push(l);
    for (const d of r.dues) into.dues.push(d);
    into.sent += r.sent;
    into.ok += r.ok;
    into.errors += r.errors;
    into.errorSamples.push(...r.errorSamples.slice(0, 3 - into.errorSamples.length));
    into.elapsedMs += r.elapsedMs;
  };
  const slices = Math.max(1, Math.round(totalMs / sliceMs));
  for (let i = 0; i < slices; i++) {
    const order: Array<0 | 1> = i % 2 === 0 ? [0, 1] : [1, 0];
    for (const which of order) add(out[which], await openLoop(rate, sliceMs, which === 0 ? a : b));
  }
  return out;
}

/** How a load's slowest answers are spread in time (see `tailBursts`). */
export interface TailBursts {
  /** answers at or over the threshold */
  slow: number;
  /** of those, the share inside bursts */
  inBurstsPct: number;
  bursts: number;
  /** the longest burst, from its first slow answer's due time to its last's, ms */
  longestMs: number;
}

/**
 * The answers slower than `threshold` ms, grouped into bursts: slow answers due within `gapMs` of
 * each other, at least `minSize` of them. Most slow answers in a few bursts means the process (or
 * the machine) stood still for a while and everything due then waited; slow answers spread out
 * means each one cost too much.
 */
export function tailBursts(r: LoadResult, threshold: number, gapMs = 20, minSize = 10): TailBursts {
  const slow = r.dues.filter((_, k) => r.latencies[k]! >= threshold).sort((a, b) => a - b);
  let bursts = 0;
  let inBursts = 0;
  let longestMs = 0;
  for (let i = 0; i < slow.length; ) {
    let j = i;
    while (j + 1 < slow.length && slow[j + 1]! - slow[j]! <= gapMs) j++;
    if (j - i + 1 >= minSize) {
      bursts++;
      inBursts += j - i + 1;
      longestMs = Math.max(longestMs, slow[j]! - slow[i]!);
    }
    i = j + 1;
  }
  return { slow: slow.length, inBurstsPct: slow.length ? Math.round((1000 * inBursts) / slow.length) / 10 : 0, bursts, longestMs: Math.round(longestMs) };
}
