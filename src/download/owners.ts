// Rendezvous ownership of chunks among the downloaders active now (picker-swarm.ts): each
// downloader's id seeds a hash, a chunk belongs to the downloader whose weight for it is highest,
// and every downloader computes the same owner without a message about it. (Keeping each chunk's
// owner while the set of downloaders stayed the same was tried: bench/micro/seeder-pick.ts showed
// it within the noise, slower with few downloaders; computing it is a few ns per downloader.)

/** 32-bit FNV-1a of a peer id: its seed in the rendezvous hash. */
export function idSeed(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) {
    h ^= id.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The rendezvous weight of chunk `index` for the downloader seeded `seed` (a well-mixed 32-bit value). */
export function weight(seed: number, index: number): number {
  let h = (seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Who owns a chunk: the index in the seeds of the highest weight (ties: the lower seed), that weight, and the runner-up (-1: none). */
export interface Ownership {
  best: number;
  bestWeight: number;
  second: number;
}

/** Fills `out` with the ownership of chunk `index` among `seeds` (at least one). */
export function computeOwner(seeds: readonly number[], index: number, out: Ownership): void {
  let best = 0;
  let bestWeight = weight(seeds[0]!, index);
  let second = -1;
  let secondWeight = -1;
  for (let k = 1; k < seeds.length; k++) {
    const w = weight(seeds[k]!, index);
    if (w > bestWeight || (w === bestWeight && seeds[k]! < seeds[best]!)) {
      second = best;
      secondWeight = bestWeight;
      best = k;
      bestWeight = w;
    } else if (w > secondWeight || (w === secondWeight && second >= 0 && seeds[k]! < seeds[second]!)) {
      second = k;
      secondWeight = w;
    }
  }
  out.best = best;
  out.bestWeight = bestWeight;
  out.second = second;
}

/** Among `seeds` (ours first), whose chunk `index` is: the index in `seeds` of the highest weight (ties: the lower seed). */
export function ownerOf(seeds: readonly number[], index: number): number {
  const out = { best: 0, bestWeight: 0, second: -1 };
  computeOwner(seeds, index, out);
  return out.best;
}
