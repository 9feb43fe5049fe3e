// The rate a download shows: verified bytes over the last few seconds, not since the last report.
// Chunks are verified whole (1 MiB and more), so over one short report interval the count jumps
// between one chunk and none, and a per-interval rate flickers between twice the truth and 0 B/s.

export class RateWindow {
  private readonly samples: Array<{ at: number; bytes: number }> = [];
  private readonly start: { at: number; bytes: number };

  /** `windowMs`: how far back the rate looks (samples older than that are dropped, one is kept). */
  constructor(
    private readonly windowMs: number,
    start: { at: number; bytes: number },
  ) {
    this.start = start;
    this.samples.push(start);
  }

  /** bytes/s since the start (0 before any time has passed). */
  overall(now: number, bytes: number): number {
    return now > this.start.at ? Math.round(((bytes - this.start.bytes) * 1000) / (now - this.start.at)) : 0;
  }

  /** Record `bytes` at `now` and return bytes/s over the window (0 before any time has passed). */
  sample(now: number, bytes: number): number {
    this.samples.push({ at: now, bytes });
    // keep the newest sample at or before the window's start, so the span covers the whole window
    while (this.samples.length > 2 && this.samples[1]!.at <= now - this.windowMs) this.samples.shift();
    const oldest = this.samples[0]!;
    return now > oldest.at ? Math.round(((bytes - oldest.bytes) * 1000) / (now - oldest.at)) : 0;
  }
}
