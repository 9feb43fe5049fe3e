// Bandwidth limits on a fake clock: the token bucket's rate, burst and debt, the throttle's turns
// between consumers (fairness whatever their queue lengths), the receive-side pause, and slots.
import test from 'ava';
import { FairThrottle, TokenBucket, type Clock } from '../../src/transport/rate-limit.js';
import { UploadSlots } from '../../src/transport/upload-slots.js';

/** A clock that only moves when told; timers fire in order as it passes them. */
class FakeClock implements Clock {
  t = 0;
  private timers: Array<{ at: number; fn: () => void; id: number }> = [];
  private nextId = 1;
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.timers.push({ at: this.t + ms, fn, id });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((x) => x.id !== handle);
  }
  /** Move time forward by `ms`, firing due timers (and letting resolved promises run) on the way. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await flushMicrotasks();
      this.timers.sort((a, b) => a.at - b.at);
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.timers.shift();
      this.t = next.at;
      next.fn();
    }
    this.t = end;
    await flushMicrotasks();
  }
}

async function flushMicrotasks(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

test('token bucket: starts full, refills at the rate, never above the burst', (t) => {
  let now = 0;
  const b = new TokenBucket(1000, 500, () => now);
  t.is(b.balance(), 500);
  b.take(500);
  t.is(b.balance(), 0);
  now = 250;
  t.is(b.balance(), 250);
  now = 10_000;
  t.is(b.balance(), 500, 'capped at the burst');
});

test('token bucket: a take larger than the burst goes into debt, and the wait repays it', (t) => {
  let now = 0;
  const b = new TokenBucket(1000, 100, () => now);
  b.take(1100);
  t.is(b.balance(), -1000);
  t.is(b.msUntilClear(), 1000);
  now = 400;
  t.is(b.msUntilClear(), 600);
  now = 1000;
  t.is(b.msUntilClear(), 0);
  t.throws(() => new TokenBucket(0, 100, () => now), { instanceOf: RangeError });
});

test('throttle: the long-run rate holds (10 s of grants at 1000 B/s)', async (t) => {
  const clock = new FakeClock();
  const throttle = new FairThrottle({ rateBps: 1000, burstBytes: 100 }, clock);
  let granted = 0;
  const consumer = {};
  const loop = async () => {
    for (;;) {
      await throttle.acquire(consumer, 100);
      granted += 100;
      if (granted >= 100_000) return;
    }
  };
  void loop();
  await clock.advance(10_000);
  // burst + rate × time, within one grant
  t.true(granted >= 10_000 && granted <= 10_200, `granted ${granted}`);
});

test('throttle: two consumers share evenly, whatever their queue lengths', async (t) => {
  const clock = new FakeClock();
  const throttle = new FairThrottle({ rateBps: 1000, burstBytes: 100 }, clock);
  const a = {};
  const b = {};
  const order: string[] = [];
  // a queues 20 requests at once (a deep pipeline), b only 5
  for (let i = 0; i < 20; i++) void throttle.acquire(a, 100).then(() => order.push('a'));
  for (let i = 0; i < 5; i++) void throttle.acquire(b, 100).then(() => order.push('b'));
  await clock.advance(0);
  const burst = order.length; // what the bucket held at the start went to whoever asked first
  t.true(burst <= 2, order.join(''));
  await clock.advance(800);
  const turns = order.slice(burst, burst + 8).join('');
  t.is(turns, 'abababab', `then they take turns: ${order.join('')}`);
  await clock.advance(10_000);
  t.is(order.length, 25);
  t.deepEqual(order.slice(burst + 10), Array(15 - burst).fill('a'), 'once b is done, a has it all');
  t.is(throttle.waiting(), 0);
});

test('throttle: receive side pauses for the debt; forget lets a closed consumer go', async (t) => {
  const clock = new FakeClock();
  const throttle = new FairThrottle({ rateBps: 1000, burstBytes: 1000 }, clock);
  t.is(throttle.consume(500), 0);
  t.is(throttle.consume(1500), 1000, 'a second of debt');
  const gone = {};
  let released = false;
  void throttle.acquire(gone, 10).then(() => (released = true));
  await clock.advance(0);
  t.false(released);
  throttle.forget(gone);
  await clock.advance(0);
  t.true(released);
});

test('upload slots: full house refuses newcomers; quiet or closed holders make room', (t) => {
  let now = 0;
  const slots = new UploadSlots({ max: 2, idleMs: 1000, now: () => now });
  const [a, b, c] = [{}, {}, {}];
  let aBusy = true;
  t.true(slots.ask(a, () => aBusy));
  t.true(slots.ask(b, () => true));
  t.false(slots.ask(c, () => true), 'no third slot');
  t.true(slots.ask(a, () => aBusy), 'a holder keeps its slot');
  now = 5000;
  t.false(slots.ask(c, () => true), 'a is quiet for long, but still has requests going');
  aBusy = false;
  t.true(slots.ask(c, () => true), 'a went quiet: c takes its slot');
  t.false(slots.ask(a, () => false));
  slots.release(b);
  t.true(slots.ask(a, () => false));
  t.is(slots.used, 2);
  const open = new UploadSlots({ max: 0, now: () => now });
  for (let i = 0; i < 100; i++) t.true(open.ask({}, () => true));
});
