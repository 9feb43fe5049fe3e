// Open-loop load: requests are sent on a fixed schedule whatever the answers do, and each
// latency is measured from the moment the request was due (not when it happened to go out),
// so a stall on either side shows up in the tail instead of hiding it (no coordinated omission).
import { performance } from 'node:perf_hooks';

export interface LoadResult {
  /** latency of each answered request, ms */
  latencies: number[];
  sent: number;
  ok: number;
  errors: number;
  /** a few error messages, for the report */
  errorSamples: string[];
  /** from the first due time to the last answer, ms */
  elapsedMs: number;
}

/**
 * Send `rate` requests per second for `durationMs` (bounded: rate × duration requests), each
 * through `send(i)` (which rejects on a bad answer), and wait for every answer.
 */
export function openLoop(rate: number, durationMs: number, send: (i: number) => Promise<unknown>): Promise<LoadResult> {
  const total = Math.max(1, Math.round((rate * durationMs) / 1000));
  const result: LoadResult = { latencies: [], sent: 0, ok: 0, errors: 0, errorSamples: [], elapsedMs: 0 };
  return new Promise((resolve) => {
    const t0 = performance.now();
    let inflight = 0;
    let finished = false;
    const maybeDone = () => {
      if (finished || result.sent < total || inflight > 0) return;
      finished = true;
      result.elapsedMs = performance.now() - t0;
      resolve(result);
    };
    const fire = (i: number) => {
      const due = t0 + (i * 1000) / rate;
      inflight++;
      result.sent++;
      send(i).then(
        () => {
          result.ok++;
          result.latencies.push(performance.now() - due);
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
      while (result.sent < due) fire(result.sent);
      if (result.sent >= total) {
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
  const merged = (): LoadResult => ({ latencies: [], sent: 0, ok: 0, errors: 0, errorSamples: [], elapsedMs: 0 });
  const out: [LoadResult, LoadResult] = [merged(), merged()];
  const add = (into: LoadResult, r: LoadResult) => {
    for (const l of r.latencies) into.latencies.push(l);
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
