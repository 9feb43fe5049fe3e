// The shown rate does not flicker when whole chunks land between some reports and not others.
import test from 'ava';
import { RateWindow } from '../../src/download/rate-window.js';

const MiB = 1024 * 1024;

test('chunks of 1 MiB every 200 ms, reports every 100 ms: a steady 5 MiB/s, never 0', (t) => {
  const w = new RateWindow(3000, { at: 0, bytes: 0 });
  const rates: number[] = [];
  for (let now = 100; now <= 10_000; now += 100) rates.push(w.sample(now, Math.floor(now / 200) * MiB));
  const settled = rates.slice(30); // after the first window
  t.true(settled.every((r) => r > 4.5 * MiB && r < 5.5 * MiB), settled.map((r) => (r / MiB).toFixed(2)).join(' '));
});

test('a stall shows as a falling rate that reaches 0 once the window has passed', (t) => {
  const w = new RateWindow(3000, { at: 0, bytes: 0 });
  for (let now = 100; now <= 5000; now += 100) w.sample(now, now * 1000);
  const during = w.sample(6000, 5_000_000);
  t.true(during > 0 && during < 1_000_000);
  t.is(w.sample(8100, 5_000_000), 0);
});

test('no time passed: 0', (t) => {
  t.is(new RateWindow(3000, { at: 5, bytes: 10 }).sample(5, 20), 0);
});

test('overall: since the start, whatever the window', (t) => {
  const w = new RateWindow(1000, { at: 1000, bytes: 500 });
  w.sample(5000, 4500);
  t.is(w.overall(5000, 4500), 1000);
  t.is(w.overall(1000, 600), 0);
});
