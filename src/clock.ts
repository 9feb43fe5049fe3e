// Time as a component: the system clock in production, a manual one in unit tests, so code that
// waits (backoff, tickers, deadlines) is tested without sleeping.

/** What time-dependent code may ask of the world. */
export interface Clock {
  /** milliseconds since the epoch */
  now(): number;
  /** call `fn` after `ms`; returns a cancel function. Never keeps the process alive. */
  setTimeout(fn: () => void, ms: number): () => void;
}

/** The real clock: Date.now and unref'd timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return () => clearTimeout(t);
  },
};

/** Call `fn` every `ms` until the returned function is called. */
export function every(clock: Clock, ms: number, fn: () => void): () => void {
  let cancel = (): void => undefined;
  let stopped = false;
  const tick = () => {
    if (stopped) return;
    cancel = clock.setTimeout(() => {
      fn();
      tick();
    }, ms);
  };
  tick();
  return () => {
    stopped = true;
    cancel();
  };
}
