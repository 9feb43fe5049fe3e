// Small statistics helpers: medians of repeated runs, latency quantiles, unit conversions.

/** Median of the finite values (mean of the middle two for an even count); NaN when none. */
export function median(values: number[]): number {
  const v = values.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

/** Nearest-rank quantile (q in 0..1) of values already sorted ascending. */
export function quantileSorted(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

/** p50 / p99 / max of a latency sample (ms). */
export function latencySummary(samples: number[]): { p50: number; p99: number; max: number; count: number } {
  const sorted = Float64Array.from(samples).sort();
  return {
    p50: quantileSorted(sorted, 0.5),
    p99: quantileSorted(sorted, 0.99),
    max: sorted.length ? sorted[sorted.length - 1]! : NaN,
    count: sorted.length,
  };
}

/** Decimal megabytes (10^6 bytes), the unit every rate and size in the report uses. */
export const MB = 1_000_000;
export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

/** bytes moved in ms → MB/s */
export function rateMBps(bytes: number, ms: number): number {
  return bytes / MB / (ms / 1000);
}

/** Round for display and JSON: 3 significant decimals at most. */
export function round(n: number | null | undefined, digits = 3): number | null {
  if (n === null || n === undefined || !Number.isFinite(n)) return null;
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}
