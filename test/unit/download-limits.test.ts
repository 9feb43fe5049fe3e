// Class 6 of issue 9: 20 000 intents from anyone on the bus cannot make a peer run 20 000
// downloads. The limiter runs at most maxRunning, queues maxQueued in arrival order, refuses the
// rest with BUSY naming the limits, and a finished download frees its slot for the next in line.
import test from 'ava';
import { BusyError } from '../../src/errors.js';
import { DownloadLimiter } from '../../src/download-limits.js';

test('20 000 intents: 16 run, 256 wait, the rest get BUSY naming the limits', (t) => {
  const limiter = new DownloadLimiter({ maxRunning: 16, maxQueued: 256 });
  const started: string[] = [];
  let busy = 0;
  let message = '';
  for (let i = 0; i < 20_000; i++) {
    try {
      limiter.admit(`d${i}`, () => started.push(`d${i}`));
    } catch (err) {
      t.true(err instanceof BusyError);
      busy++;
      message = (err as Error).message;
    }
  }
  t.is(started.length, 16);
  t.deepEqual(limiter.counts, { running: 16, queued: 256 });
  t.is(busy, 20_000 - 16 - 256);
  t.regex(message, /16 downloads at most and 256 more are waiting/);
});

test('a finished download frees its slot at once for the next in line; a queued one can leave', (t) => {
  const limiter = new DownloadLimiter({ maxRunning: 2, maxQueued: 3 });
  const started: string[] = [];
  for (const id of ['a', 'b', 'c', 'd', 'e']) limiter.admit(id, () => started.push(id));
  t.deepEqual(started, ['a', 'b']);
  t.deepEqual(limiter.admit('c', () => undefined), { kind: 'queued', position: 1 }, 'the same intent again changes nothing');
  limiter.release('d'); // cancelled while waiting
  limiter.release('a');
  t.deepEqual(started, ['a', 'b', 'c']);
  limiter.release('b');
  t.deepEqual(started, ['a', 'b', 'c', 'e']);
  limiter.release('zzz'); // unknown: nothing happens
  t.deepEqual(limiter.counts, { running: 2, queued: 0 });
  t.throws(() => new DownloadLimiter({ maxRunning: 0, maxQueued: 1 }), { instanceOf: RangeError });
});
