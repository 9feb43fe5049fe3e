// Availability news gathered per window (src/download/news.ts): a merged change must leave the
// picker exactly as the messages one by one, and a window reaches the machine as one event.
import test from 'ava';
import fc from 'fast-check';
import { mergeHave, SwarmNews, type NewsBatch } from '../../src/download/news.js';
import { ChunkPicker } from '../../src/download/picker.js';
import type { HaveUpdate } from '../../src/download/picker-types.js';
import type { Source } from '../../src/protocol/messages.js';
import { ManualClock } from '../helpers/manual-clock.js';
import { bits } from '../helpers/picker-inputs.js';

const source = (peerId: string, port = 7000): Source => ({ peerId, endpoint: { host: '127.0.0.1', port } });

test('mergeHave: complete stays complete, a bitfield replaces, gains add (the received bitfield is not written to)', (t) => {
  const all: HaveUpdate = { kind: 'all' };
  const b: HaveUpdate = { kind: 'bits', bits: bits(10, [1]) };
  const g: HaveUpdate = { kind: 'gained', ranges: [[3, 5]] };
  t.deepEqual(mergeHave(all, b, 10), all);
  t.deepEqual(mergeHave(all, g, 10), all);
  t.deepEqual(mergeHave(b, all, 10), all);
  t.deepEqual(mergeHave(g, b, 10), b);
  t.deepEqual(mergeHave(g, { kind: 'gained', ranges: [[7, 8]] }, 10), { kind: 'gained', ranges: [[3, 5], [7, 8]] });
  t.deepEqual(mergeHave(b, g, 10), { kind: 'bits', bits: bits(10, [1, 3, 4]) });
  t.deepEqual((b as { bits: Uint8Array }).bits, bits(10, [1]));
});

const change = (count: number): fc.Arbitrary<HaveUpdate> =>
  fc.oneof(
    { weight: 1, arbitrary: fc.constant<HaveUpdate>({ kind: 'all' }) },
    { weight: 3, arbitrary: fc.uniqueArray(fc.nat(count - 1), { maxLength: count }).map((set): HaveUpdate => ({ kind: 'bits', bits: bits(count, set) })) },
    {
      weight: 6,
      arbitrary: fc
        .array(fc.tuple(fc.nat(count - 1), fc.integer({ min: 1, max: 4 })), { minLength: 1, maxLength: 4 })
        .map((rs): HaveUpdate => ({ kind: 'gained', ranges: rs.map(([s, n]) => [s, Math.min(count, s + n)] as [number, number]) })),
    },
  );

test('mergeHave: one merged change leaves the picker as the changes one by one do', (t) => {
  const count = 21;
  fc.assert(
    fc.property(fc.array(change(count), { minLength: 1, maxLength: 6 }), (changes) => {
      const one = new ChunkPicker({ chunkCount: count, have: () => false });
      const merged = new ChunkPicker({ chunkCount: count, have: () => false });
      const [first, ...rest] = changes.map((c) => (c.kind === 'bits' ? { ...c, bits: c.bits.slice() } : c));
      const initial = (c: HaveUpdate) => (c.kind === 'gained' ? { kind: 'bits' as const, bits: new Uint8Array(3) } : c);
      one.addSource('n', initial(first!));
      if (first!.kind === 'gained') one.update('n', first!);
      for (const c of rest) one.update('n', c);
      const m = rest.reduce((acc, c) => mergeHave(acc, c, count), first!);
      merged.addSource('n', initial(m));
      if (m.kind === 'gained') merged.update('n', m);
      for (let i = 0; i < count; i++) {
        if (one.sourceHas('n', i) !== merged.sourceHas('n', i) || one.availability(i) !== merged.availability(i)) return false;
      }
      return one.isComplete('n') === merged.isComplete('n');
    }),
    { numRuns: 500 },
  );
  t.pass();
});

test('SwarmNews: a window of messages reaches the listener once, per source in first-heard order, newest endpoint', async (t) => {
  const clock = new ManualClock();
  const batches: NewsBatch[] = [];
  const news = new SwarmNews(clock, { chunkCount: 16, windowMs: 25, deliver: (b) => batches.push(b) });
  news.add(source('a'), { kind: 'gained', ranges: [[0, 1]] });
  news.add(source('b'), { kind: 'gained', ranges: [[5, 6]] });
  news.add(source('a', 7001), { kind: 'gained', ranges: [[1, 2]] });
  await clock.advance(24);
  t.is(batches.length, 0, 'nothing before the window ends');
  await clock.advance(1);
  t.deepEqual(batches, [
    {
      sources: [source('a', 7001), source('b')],
      changes: [
        { kind: 'gained', ranges: [[0, 1], [1, 2]] },
        { kind: 'gained', ranges: [[5, 6]] },
      ],
    },
  ]);
  t.is(clock.pending, 0, 'no timer while nothing is pending');
  news.add(source('c'), { kind: 'all' });
  news.stop();
  await clock.advance(100);
  t.is(batches.length, 1, 'stopped: what was pending is dropped');
  t.is(clock.pending, 0);
});
