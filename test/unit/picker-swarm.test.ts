// The picker's swarm rules (src/download/picker-swarm.ts), pure: with neighbours downloading the
// same file, a complete source (the seeder) is asked only for chunks no usable neighbour has and
// that are ours by rendezvous hashing, so the seeder sends each chunk about once; a neighbour
// BUSY, failing, quiet or a swarm with no progress lets the seeder be asked again.
import test from 'ava';
import { ChunkPicker, type PickerOptions } from '../../src/download/picker.js';
import { bits, seeded } from '../helpers/picker-inputs.js';
import { idSeed, ownerOf, weight } from '../../src/download/picker-swarm.js';

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

function picker(opts: Partial<PickerOptions> & { chunkCount: number }): ChunkPicker {
  return new ChunkPicker({ have: () => false, random: seeded(3), selfId: 'me', ...opts });
}

/** Everything `id` may be asked for at `now`, each marked as requested. */
function drain(p: ChunkPicker, id: string, now: number): number[] {
  const out: number[] = [];
  for (let i; (i = p.pick(id, now)) !== undefined; ) out.push(i);
  return out;
}

test('the seeder is not asked for what a neighbour has: the neighbour is', (t) => {
  const p = picker({ chunkCount: 10, stallMs: 60_000 });
  p.addSource('seed', { kind: 'all' });
  p.addSource('n', { kind: 'bits', bits: bits(10, range(0, 6)) }, 0);
  // n is the only other downloader and active: chunks 6..9 (held by nobody) are shared out between us
  const fromSeed = drain(p, 'seed', 10);
  t.true(fromSeed.every((i) => i >= 6), `seeder asked only for chunks n lacks: ${fromSeed}`);
  t.deepEqual(drain(p, 'n', 10).sort((a, b) => a - b), range(0, 6), 'n is asked for everything it has');
});

test('a BUSY neighbour (not ready) does not hold the seeder back', (t) => {
  let nReady = false;
  const p = picker({ chunkCount: 4, stallMs: 60_000, ready: (id) => id !== 'n' || nReady });
  p.addSource('seed', { kind: 'all' });
  p.addSource('n', { kind: 'bits', bits: bits(4, [0, 1, 2, 3]) }, 0);
  t.is(drain(p, 'seed', 10).length, 4, 'n cannot serve now: the seeder is asked for all of it');
  const q = picker({ chunkCount: 4, stallMs: 60_000, ready: (id) => id !== 'n' || nReady });
  q.addSource('seed', { kind: 'all' });
  q.addSource('n', { kind: 'bits', bits: bits(4, [0, 1, 2, 3]) }, 0);
  nReady = true;
  t.deepEqual(drain(q, 'seed', 10), [], 'n can serve: nothing from the seeder');
});

test('a chunk a neighbour failed to give us comes from the seeder', (t) => {
  const p = picker({ chunkCount: 1, stallMs: 60_000 });
  p.addSource('seed', { kind: 'all' });
  p.addSource('n', { kind: 'bits', bits: bits(1, [0]) }, 0);
  t.is(p.pick('seed', 1), undefined);
  t.is(p.pick('n', 1), 0);
  p.failed(0, 'n');
  t.is(p.pick('seed', 2), 0);
});

test('rendezvous ownership: three downloaders ask the seeder for disjoint shares that cover the file', (t) => {
  const count = 600;
  const ids = ['d1', 'd2', 'd3'];
  // each already holds one chunk (its index in ids) and has told the others: all three are active
  const shares = ids.map((self, k) => {
    // each asks for its whole share at once here (not a pipeline's worth): nobody may take over another's
    const p = picker({ chunkCount: count, selfId: self, have: (i) => i === k, random: seeded(k + 1), stallMs: 60_000, ownerAhead: count });
    p.addSource('seed', { kind: 'all' });
    ids.forEach((other, j) => other !== self && p.addSource(other, { kind: 'bits', bits: bits(count, [j]) }, 0));
    return drain(p, 'seed', 100);
  });
  const all = shares.flat();
  t.is(new Set(all).size, all.length, 'no chunk is asked of the seeder twice');
  t.deepEqual([...all].sort((a, b) => a - b), range(3, count), 'together they cover every chunk nobody had');
  for (const s of shares) t.true(s.length > count / 3 - 60 && s.length < count / 3 + 60, `a fair share: ${shares.map((x) => x.length)}`);
  // the shares follow ownerOf, the same function every downloader computes
  const seeds = ids.map(idSeed);
  for (const [k, s] of shares.entries()) t.true(s.every((i) => ownerOf([seeds[k]!, ...seeds.filter((_, j) => j !== k)], i) === 0));
});

test('a neighbour quiet for ownerActiveMs loses its share to us', (t) => {
  const p = picker({ chunkCount: 200, ownerActiveMs: 1000, stallMs: 60_000 });
  p.addSource('seed', { kind: 'all' });
  p.addSource('n', { kind: 'bits', bits: bits(200, [0]) }, 0);
  const mine = drain(p, 'seed', 500);
  t.true(mine.length > 50 && mine.length < 150, `about half while n is active: ${mine.length}`);
  t.deepEqual(drain(p, 'seed', 900), [], 'still within ownerActiveMs');
  const g = range(1, 200).find((i) => !mine.includes(i))!;
  p.update('n', { kind: 'gained', ranges: [[g, g + 1]] }, 900);
  t.deepEqual(drain(p, 'seed', 1800), [], 'its gain at 900 keeps it active');
  const rest = drain(p, 'seed', 2000);
  t.is(mine.length + rest.length, 198, 'quiet since 900: its share is ours now (all but the 2 chunks it has)');
});

test('no progress for stallMs: the seeder may be asked for anything (a neighbour that never delivers cannot stall us)', (t) => {
  const p = picker({ chunkCount: 3, stallMs: 2000, endgameMinMs: 100 });
  p.addSource('seed', { kind: 'all' });
  p.addSource('n', { kind: 'bits', bits: bits(3, [0, 1, 2]) }, 0);
  // n has it all but has not answered yet (connecting, say): nothing is in flight anywhere
  t.is(p.pick('seed', 0), undefined, 'n has it all');
  t.is(p.pick('seed', 1999), undefined);
  const late = p.pick('seed', 2000);
  t.not(late, undefined, 'nothing completed for 2 s: the seeder is asked');
  p.completed(late!, 'seed', 2100);
  t.is(p.pick('seed', 2200), undefined, 'progress again: the rules are back');
});

test('without selfId the seeder is asked as before (rarest first, whatever neighbours have)', (t) => {
  const p = new ChunkPicker({ chunkCount: 4, have: () => false, random: seeded(1) });
  p.addSource('seed', { kind: 'all' });
  p.addSource('n', { kind: 'bits', bits: bits(4, [0, 1]) }, 0);
  t.deepEqual(drain(p, 'seed', 0).sort(), [0, 1, 2, 3]);
});

test('with neighbours, an old request is duplicated only in the real endgame (every wanted chunk out), not mid-download', (t) => {
  const p = picker({ chunkCount: 3, endgameMinMs: 100, stallMs: 60_000 });
  p.addSource('n1', { kind: 'bits', bits: bits(3, [0, 1]) }, 0);
  p.addSource('n2', { kind: 'bits', bits: bits(3, [0]) }, 0);
  t.is(p.pick('n1', 0), 1, 'only n1 has 1');
  t.is(p.pick('n2', 0), 0);
  p.completed(1, 'n1', 400);
  t.is(p.pick('n1', 1500), undefined, 'chunk 2 is still wanted (nobody has it yet): 0, though old, is not duplicated on n1');
  p.update('n1', { kind: 'gained', ranges: [[2, 3]] }, 1500);
  t.is(p.pick('n1', 1500), 2);
  t.is(p.pick('n1', 2000), 0, 'now every wanted chunk is out: the old request of 0 is duplicated (older than 3 × the typical 400 ms)');
});

test('a neighbour far behind us (under half our chunks) has no share: a slow downloader cannot slow us', (t) => {
  const count = 100;
  const mine = range(0, 20);
  const p = picker({ chunkCount: count, have: (i) => mine.includes(i), stallMs: 60_000 });
  p.addSource('seed', { kind: 'all' });
  p.addSource('slow', { kind: 'bits', bits: bits(count, range(0, 9)) }, 0);
  t.is(drain(p, 'seed', 100).length, 80, '9 chunks against our 20: every chunk we lack is ours to ask the seeder for');
  const q = picker({ chunkCount: count, have: (i) => mine.includes(i), stallMs: 60_000 });
  q.addSource('seed', { kind: 'all' });
  q.addSource('even', { kind: 'bits', bits: bits(count, range(0, 10)) }, 0);
  const share = drain(q, 'seed', 100).length;
  t.true(share > 20 && share < 60, `10 against our 20: it keeps its share, about half of the 80: ${share}`);
});

test('an owner asks the seeder for its share in a fixed order: highest rendezvous weight first', (t) => {
  const p = picker({ chunkCount: 200, stallMs: 60_000 });
  p.addSource('seed', { kind: 'all' });
  p.addSource('n', { kind: 'bits', bits: bits(200, [0]) }, 0);
  const mine = drain(p, 'seed', 10);
  const me = idSeed('me');
  t.true(mine.length > 50, `a share: ${mine.length}`);
  t.deepEqual(mine, [...mine].sort((a, b) => weight(me, b) - weight(me, a)), 'in the order every downloader can compute');
});

/** The shares of `ids` (all active) and each owner's order: its chunks, highest rendezvous weight first. */
function orders(ids: string[], count: number): number[][] {
  const seeds = ids.map(idSeed);
  return seeds.map((seed, k) => range(0, count).filter((i) => ownerOf(seeds, i) === k).sort((x, y) => weight(seed, y) - weight(seed, x)));
}

test('a downloader done with its share takes over the far end of a slower owner\'s share, never the next chunks it fetches', (t) => {
  const count = 200;
  const ahead = 8;
  const [fastOrder, slowOrder] = orders(['fast', 'slow'], count) as [number[], number[]];
  // fast has its share but its last 3; slow has those of fast's chunks and the first 20 of its own
  const fastHas = fastOrder.slice(0, -3);
  const fast = picker({ chunkCount: count, selfId: 'fast', have: (i) => fastHas.includes(i), stallMs: 60_000, ownerAhead: ahead });
  fast.addSource('seed', { kind: 'all' });
  fast.addSource('slow', { kind: 'bits', bits: bits(count, [...fastHas, ...slowOrder.slice(0, 20)]) }, 0);
  const first = drain(fast, 'seed', 10);
  t.deepEqual(first.slice(0, 3), fastOrder.slice(-3), 'its own share first');
  t.deepEqual(first.slice(3), slowOrder.slice(20 + ahead + 3).reverse(), 'then the slow owner\'s far end, beyond its next 8 and the 3 we still wait for');
  for (const i of fastOrder.slice(-3)) fast.completed(i, 'seed', 20);
  t.deepEqual(drain(fast, 'seed', 30), slowOrder.slice(20 + ahead, 20 + ahead + 3).reverse(), 'our own share done: all but its next 8');
  t.deepEqual(drain(fast, 'seed', 40), [], 'the 8 the slow owner fetches now stay its own');
});

test('two downloaders done with their shares take over disjoint parts of a slow owner\'s share', (t) => {
  const count = 400;
  const ids = ['a', 'b', 'slow'];
  const [aOrder, bOrder, slowOrder] = orders(ids, count) as [number[], number[], number[]];
  // a and b have both their shares; slow has them too and the first 30 of its own
  const has: Record<string, number[]> = { a: [...aOrder, ...bOrder], b: [...aOrder, ...bOrder], slow: [...aOrder, ...bOrder, ...slowOrder.slice(0, 30)] };
  const taken = ['a', 'b'].map((self, k) => {
    const p = picker({ chunkCount: count, selfId: self, have: (i) => has[self]!.includes(i), random: seeded(k + 5), stallMs: 60_000, ownerAhead: 8 });
    p.addSource('seed', { kind: 'all' });
    for (const other of ids) if (other !== self) p.addSource(other, { kind: 'bits', bits: bits(count, has[other]!) }, 0);
    return drain(p, 'seed', 10);
  });
  t.true(taken[0]!.length > 20 && taken[1]!.length > 20, `each takes some: ${taken.map((x) => x.length)}`);
  t.deepEqual(taken[0]!.filter((i) => taken[1]!.includes(i)), [], 'no chunk taken over twice');
  t.deepEqual(taken.flat().sort((x, y) => x - y), slowOrder.slice(38).sort((x, y) => x - y), 'together: the slow owner\'s share but the 30 it has and the 8 it fetches next');
});

test('the tail\'s relief: once every chunk we want is at a neighbour, the seeder is asked for seederRelief at a time, the rarest first', (t) => {
  const off = picker({ chunkCount: 6, stallMs: 60_000 });
  off.addSource('seed', { kind: 'all' });
  off.addSource('n1', { kind: 'bits', bits: bits(6, range(0, 6)) }, 0);
  t.deepEqual(drain(off, 'seed', 10), [], 'off by default: nothing a neighbour has');
  const p = picker({ chunkCount: 6, stallMs: 60_000, seederRelief: 1 });
  p.addSource('seed', { kind: 'all' });
  p.addSource('n1', { kind: 'bits', bits: bits(6, range(0, 6)) }, 0);
  p.addSource('n2', { kind: 'bits', bits: bits(6, [0, 1, 2]) }, 0);
  const first = p.pick('seed', 10);
  t.true(first !== undefined && first >= 3, `one of the chunks only n1 has: ${first}`);
  t.is(p.pick('seed', 10), undefined, 'one at a time (seederRelief 1)');
  p.completed(first!, 'seed', 20);
  const second = p.pick('seed', 30);
  t.true(second !== undefined && second >= 3 && second !== first, `the next rarest: ${second}`);
  // the neighbours are still asked for the rest
  t.true(drain(p, 'n1', 30).length > 0);
  const two = picker({ chunkCount: 6, stallMs: 60_000, seederRelief: 2 });
  two.addSource('seed', { kind: 'all' });
  two.addSource('n1', { kind: 'bits', bits: bits(6, range(0, 6)) }, 0);
  t.is(drain(two, 'seed', 10).length, 2, 'seederRelief 2: two at a time');
});

test('the tail\'s relief waits for the seeder\'s first pass: nothing a neighbour has while any chunk is at nobody', (t) => {
  const p = picker({ chunkCount: 10, stallMs: 60_000, seederRelief: 4 });
  p.addSource('seed', { kind: 'all' });
  p.addSource('n', { kind: 'bits', bits: bits(10, range(0, 6)) }, 0);
  const fromSeed = drain(p, 'seed', 10);
  t.true(fromSeed.length > 0 && fromSeed.every((i) => i >= 6), `only chunks nobody has (ours), no relief: ${fromSeed}`);
  for (const i of fromSeed) p.completed(i, 'seed', 20);
  // n gets the rest of 6..9 (its share): now every chunk we want is at n
  p.update('n', { kind: 'gained', ranges: [[6, 10]] }, 30);
  const relief = drain(p, 'seed', 40);
  t.is(relief.length, Math.min(4, 10 - fromSeed.length), `now the seeder helps: ${relief}`);
});

test('the tail\'s relief: downloaders ask the seeder for different chunks (each its own highest weight among the rarest)', (t) => {
  const count = 64;
  const picks = range(0, 8).map((k) => {
    const self = `d${k}`;
    const p = picker({ chunkCount: count, selfId: self, stallMs: 60_000, seederRelief: 1 });
    p.addSource('seed', { kind: 'all' });
    p.addSource('n', { kind: 'bits', bits: bits(count, range(0, count)) }, 0);
    const pick = p.pick('seed', 10)!;
    const best = range(0, count).reduce((a, i) => (weight(idSeed(self), i) > weight(idSeed(self), a) ? i : a), 0);
    t.is(pick, best, `${self} asks for its highest-weight chunk`);
    return pick;
  });
  t.true(new Set(picks).size >= 6, `mostly distinct: ${picks}`);
});
