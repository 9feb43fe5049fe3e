// Bandwidth limits: a token bucket (pure; the clock is passed in) and a throttle that hands the
// bucket's bytes to waiting consumers in turn, so the downloaders a peer serves at once share
// its upload cap evenly whatever their pipelines, and a download cap can pause socket reads.

/** Time and timers, injectable so tests can run a fake clock. */
export interface Clock {
  /** milliseconds, monotonic */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The real clock (monotonic). */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/**
 * A token bucket of bytes: fills at `rateBps` up to `burstBytes`. `take` may go into debt (a
 * chunk larger than the burst still passes), and the next taker then waits until it is repaid,
 * so the long-run rate holds exactly.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    readonly rateBps: number,
    readonly burstBytes: number,
    private readonly now: () => number,
  ) {
    if (!(rateBps > 0) || !(burstBytes > 0)) throw new RangeError('rate and burst must be positive');
    this.tokens = burstBytes;
    this.last = now();
  }

  /** Bytes that may go now (negative while in debt). */
  balance(): number {
    this.refill();
    return this.tokens;
  }

  /** Spend `bytes` now, into debt if need be. */
  take(bytes: number): void {
    this.refill();
    this.tokens -= bytes;
  }

  /** Milliseconds until the balance is back to ≥ 0 (0 when it is). */
  msUntilClear(): number {
    this.refill();
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens * 1000) / this.rateBps);
  }

  private refill(): void {
    const t = this.now();
    if (t > this.last) this.tokens = Math.min(this.burstBytes, this.tokens + ((t - this.last) * this.rateBps) / 1000);
    this.last = t;
  }
}

interface Waiter {
  bytes: number;
  resolve: () => void;
}

/** Options of a FairThrottle. */
export interface ThrottleOptions {
  rateBps: number;
  /** default: max(64 KiB, 50 ms of rate) */
  burstBytes?: number;
}

/**
 * A shared cap. Senders `acquire` before sending (they wait their turn: consumers with waiters
 * are served round-robin, one grant each per turn); receivers `consume` what already arrived and
 * pause for the delay it returns.
 */
export class FairThrottle {
  readonly rateBps: number;
  private readonly bucket: TokenBucket;
  /** insertion order is the turn order: a consumer served goes to the back */
  private readonly queues = new Map<object, Waiter[]>();
  private timer: unknown;

  constructor(opts: ThrottleOptions, private readonly clock: Clock = systemClock) {
    this.rateBps = opts.rateBps;
    const burst = opts.burstBytes ?? Math.max(64 * 1024, Math.round(opts.rateBps / 20));
    this.bucket = new TokenBucket(opts.rateBps, burst, () => clock.now());
  }

  /** Resolves when `consumer` may send `bytes`. */
  acquire(consumer: object, bytes: number): Promise<void> {
    if (this.queues.size === 0 && this.bucket.balance() >= 0) {
      this.bucket.take(bytes);
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      const queue = this.queues.get(consumer);
      if (queue) queue.push({ bytes, resolve });
      else this.queues.set(consumer, [{ bytes, resolve }]);
      this.schedule();
    });
  }

  /** Count `bytes` that already moved; returns the milliseconds to pause before the next (0: go on). */
  consume(bytes: number): number {
    this.bucket.take(bytes);
    return this.bucket.msUntilClear();
  }

  /** Let a consumer's waiters go at once (its connection closed; it checks that itself). */
  forget(consumer: object): void {
    const queue = this.queues.get(consumer);
    this.queues.delete(consumer);
    for (const w of queue ?? []) w.resolve();
  }

  /** Waiters queued now (tests). */
  waiting(): number {
    let n = 0;
    for (const q of this.queues.values()) n += q.length;
    return n;
  }

  private grant(): void {
    this.timer = undefined;
    while (this.queues.size > 0 && this.bucket.balance() >= 0) {
      const [consumer, queue] = this.queues.entries().next().value!;
      const waiter = queue.shift()!;
      this.queues.delete(consumer);
      if (queue.length > 0) this.queues.set(consumer, queue);
      this.bucket.take(waiter.bytes);
      waiter.resolve();
    }
    this.schedule();
  }

  private schedule(): void {
    if (this.timer !== undefined || this.queues.size === 0) return;
    this.timer = this.clock.setTimeout(() => this.grant(), Math.max(1, this.bucket.msUntilClear()));
  }
}
