// Rendezvous ownership (src/download/owners.ts): the highest weight owns a chunk, the next is
// the runner-up the swarm rules let take over its far end.
import test from 'ava';
import { computeOwner, idSeed, ownerOf, weight, type Ownership } from '../../src/download/owners.js';

const seedsOf = (ids: string[]) => ids.map(idSeed);

function fresh(seeds: number[], index: number): Ownership {
  const out = { best: 0, bestWeight: 0, second: -1 };
  computeOwner(seeds, index, out);
  return out;
}

test('ownership: the highest weight owns the chunk, the next highest is the runner-up', (t) => {
  const seeds = seedsOf(['me', 'a', 'b', 'c']);
  for (let index = 0; index < 200; index++) {
    const o = fresh(seeds, index);
    const ranked = seeds.map((s, k) => [weight(s, index), k] as const).sort((x, y) => y[0] - x[0] || seeds[x[1]]! - seeds[y[1]]!);
    t.is(o.best, ranked[0]![1]);
    t.is(o.bestWeight, ranked[0]![0]);
    t.is(o.second, ranked[1]![1]);
    t.is(ownerOf(seeds, index), o.best);
  }
  t.deepEqual(fresh([idSeed('alone')], 3), { best: 0, bestWeight: weight(idSeed('alone'), 3), second: -1 }, 'one seed: no runner-up');
});
