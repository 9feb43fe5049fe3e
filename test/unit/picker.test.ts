// Chunk selection: rarest first with a random tie-break, only chunks a source has, retries away
// from a source that failed, and the endgame (duplicates of old requests, losers to cancel).
import test from 'ava';
import { ChunkPicker, type PickerOptions } from '../../src/download/picker.js';
import { bits, seeded } from '../helpers/picker-inputs.js';

function picker(opts: Partial<PickerOptions> & { chunkCount: number }): ChunkPicker {
  return new ChunkPicker({ have: () => false, random: seeded(1), ...opts });
}

test('every wanted chunk is picked exactly once, none we have', (t) => {
  const p = picker({ chunkCount: 50, have: (i) => i % 5 === 0 });
  p.addSource('a', { kind: 'all' });
  const picked: number[] = [];
  for (let i; (i = p.pick('a', 0)) !== undefined; ) picked.push(i);
  t.is(picked.length, 40);
  t.is(new Set(picked).size, 40);
  t.false(picked.some((i) => i % 5 === 0));
  t.is(p.remaining(), 40);
  t.is(p.inFlight(), 40);
});

test('rarest first: a complete source takes what no partial source has', (t) => {
  const p = picker({ chunkCount: 10 });
  p.addSource('seed', { kind: 'all' });
  p.addSource('half', { kind: 'bits', bits: bits(10, [0, 1, 2, 3, 4, 5, 6, 7]) });
  t.is(p.availability(8), 1);
  t.is(p.availability(0), 2);
  const first = [p.pick('seed', 0), p.pick('seed', 0)].sort();
  t.deepEqual(first, [8, 9], 'chunks 8 and 9 are the rarest');
});

test('rarest first among partial sources: the chunk fewest have', (t) => {
  const p = picker({ chunkCount: 4 });
  p.addSource('a', { kind: 'bits', bits: bits(4, [0, 1, 2]) });
  p.addSource('b', { kind: 'bits', bits: bits(4, [0, 1]) });
  p.addSource('c', { kind: 'bits', bits: bits(4, [0]) });
  t.is(p.pick('a', 0), 2, 'only a has 2');
  t.is(p.pick('a', 0), 1, 'two have 1');
  t.is(p.pick('a', 0), 0);
  t.is(p.pick('a', 0), undefined, 'a has nothing else');
});

test('ties are broken at random: equal chunks come in varied order', (t) => {
  const firsts = new Set<number>();
  for (let seed = 1; seed <= 40; seed++) {
    const p = new ChunkPicker({ chunkCount: 16, have: () => false, random: seeded(seed) });
    p.addSource('a', { kind: 'all' });
    firsts.add(p.pick('a', 0)!);
  }
  t.true(firsts.size >= 8, `first picks over 40 seeds: ${[...firsts].join(',')}`);
});

test('a source is only asked for chunks it has; gains and losses update that', (t) => {
  const p = picker({ chunkCount: 8 });
  p.addSource('part', { kind: 'bits', bits: bits(8, [3]) });
  t.is(p.pick('part', 0), 3);
  t.is(p.pick('part', 0), undefined);
  p.update('part', { kind: 'gained', ranges: [[5, 7]] });
  t.deepEqual([p.pick('part', 0), p.pick('part', 0)].sort(), [5, 6]);
  t.true(p.sourceHas('part', 6));
  // it turned out not to have 6 after all: forgotten, no blame, and 6 goes back to the pool
  p.lacks('part', 6);
  p.released(6, 'part');
  t.false(p.sourceHas('part', 6));
  t.is(p.availability(6), 0);
  t.is(p.pick('part', 0), undefined);
  // a full bitfield replaces what we knew; then it becomes complete
  p.update('part', { kind: 'bits', bits: bits(8, [0]) });
  t.false(p.sourceHas('part', 3));
  t.is(p.pick('part', 0), 0);
  p.update('part', { kind: 'all' });
  t.true(p.isComplete('part'));
  t.is(p.availability(7), 1);
  t.not(p.pick('part', 0), undefined);
});

test('a failed chunk is not given back to the source that failed it while another has it', (t) => {
  const p = picker({ chunkCount: 1 });
  p.addSource('bad', { kind: 'all' });
  p.addSource('good', { kind: 'all' });
  t.is(p.pick('bad', 0), 0);
  p.failed(0, 'bad');
  t.is(p.pick('bad', 0), undefined, 'not to bad again');
  t.is(p.pick('good', 0), 0);
  p.failed(0, 'good');
  t.is(p.pick('bad', 0), 0, 'every holder failed it: anyone may try again');
});

test('a removed source no longer counts, and its chunks can go elsewhere', (t) => {
  const p = picker({ chunkCount: 2 });
  p.addSource('a', { kind: 'bits', bits: bits(2, [0, 1]) });
  p.addSource('b', { kind: 'all' });
  t.is(p.availability(0), 2);
  const i = p.pick('a', 0)!;
  p.removeSource('a');
  p.failed(i, 'a');
  t.is(p.availability(0), 1);
  t.is(p.pick('a', 0), undefined, 'an unknown source gets nothing');
  t.deepEqual([p.pick('b', 0), p.pick('b', 0)].sort(), [0, 1]);
});

test('endgame: an old request is duplicated on an idle source; the first answer wins, the others are named', (t) => {
  const p = picker({ chunkCount: 2, endgameMinMs: 100, maxRequesters: 2 });
  p.addSource('slow', { kind: 'all' });
  p.addSource('fast', { kind: 'all' });
  p.addSource('third', { kind: 'all' });
  const a = p.pick('slow', 0)!;
  const b = p.pick('fast', 0)!;
  t.deepEqual([a, b].sort(), [0, 1]);
  t.deepEqual(p.completed(b, 'fast', 20), [], 'a plain completion has no losers');
  t.is(p.pick('fast', 50), undefined, 'the slow request is not old enough yet');
  t.is(p.endgameAfterMs(), 100);
  t.is(p.pick('fast', 100), a, 'now it is duplicated');
  t.is(p.pick('third', 100), undefined, 'at most maxRequesters per chunk');
  t.is(p.inFlight(), 2);
  t.deepEqual(p.completed(a, 'fast', 110), ['slow'], 'cancel the slow one');
  t.is(p.completed(a, 'slow', 120), undefined, 'a late copy is dropped');
  t.is(p.remaining(), 0);
  t.is(p.inFlight(), 0);
});

test('endgame waits longer when requests are typically slow', (t) => {
  const p = picker({ chunkCount: 3, endgameMinMs: 10, endgameFactor: 3 });
  p.addSource('a', { kind: 'all' });
  p.addSource('b', { kind: 'all' });
  const first = p.pick('a', 0)!;
  p.completed(first, 'a', 200);
  t.is(p.endgameAfterMs(), 600);
  const x = p.pick('a', 200)!;
  const y = p.pick('b', 200)!;
  p.completed(y, 'b', 400);
  t.is(p.pick('b', 700), undefined, 'x is 500 ms old, below 3 × typical');
  t.is(p.pick('b', 1000), x);
});

test('endgame duplicates go to the least requested, then the oldest chunk; a release keeps the other requesters', (t) => {
  const p = picker({ chunkCount: 3, endgameMinMs: 10, maxRequesters: 3 });
  for (const id of ['a', 'b', 'c', 'd']) p.addSource(id, { kind: 'all' });
  const x = p.pick('a', 0)!;
  const y = p.pick('b', 5)!;
  const z = p.pick('c', 8)!;
  t.is(p.pick('d', 100), x, 'oldest first');
  t.is(p.pick('d', 100), y);
  t.is(p.pick('a', 100), z, 'z has one requester, y two');
  p.released(y, 'b');
  t.is(p.inFlight(), 5);
  t.deepEqual(p.completed(y, 'd', 120), [], 'b let go of y: only d had it');
  t.deepEqual(p.completed(z, 'c', 130), ['a']);
});

test('a source that joins late with a bitfield counts for rarity at once', (t) => {
  const p = picker({ chunkCount: 6 });
  p.addSource('seed', { kind: 'all' });
  const first = p.pick('seed', 0)!;
  p.addSource('peer', { kind: 'bits', bits: bits(6, [0, 1, 2, 3, 4, 5].filter((i) => i !== first && i !== 5)) });
  t.is(p.pick('seed', 0), 5, 'the one chunk the partial peer lacks');
});

test('huge chunk counts: a pick looks at a bounded part of the pool', (t) => {
  const p = new ChunkPicker({ chunkCount: 200_000, have: () => false, random: seeded(7), scanLimit: 64 });
  p.addSource('a', { kind: 'bits', bits: bits(200_000, [199_999]) });
  // the one chunk a has is found only when the scan window reaches it: never more than scanLimit per pick
  let found: number | undefined;
  for (let i = 0; i < 20_000 && found === undefined; i++) found = p.pick('a', 0);
  t.is(found, 199_999);
});
