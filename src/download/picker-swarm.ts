// The swarm rules of the chunk picker, pure: what a downloader asks a complete source (a seeder,
// the scarce uplink) for when neighbours download the same file. A chunk a usable neighbour
// already has comes from that neighbour, never from the seeder; a chunk nobody has yet is asked
// of the seeder by one downloader only: its owner, chosen by rendezvous hashing over the
// downloaders active now (ourselves and every partial source that gained a chunk lately and has
// at least half as many as we do), so every downloader's view gives the same owner without a
// message about it. The owner forwards the chunk to the others, whose upload would otherwise
// stay idle.
import { hasBit } from '../protocol/bitfield.js';

/** Options of the swarm rules (part of PickerOptions). */
export interface SwarmPickOptions {
  /** our own peer id: chunks are shared out among downloaders by it (none: no sharing out) */
  selfId?: string;
  /** may source `id` be asked now (not BUSY, not gone)? (always) */
  ready?: (id: string) => boolean;
  /** a partial source that gained no chunk this long is not counted as downloading with us (5000 ms) */
  ownerActiveMs?: number;
  /** no chunk completed this long (or twice the endgame's wait): the rules are off, the seeder is asked for anything (5000 ms) */
  stallMs?: number;
}

/** A source as the picker keeps it. */
export interface SwarmSource {
  all: boolean;
  /** what a partial source has (undefined for complete sources) */
  bits: Uint8Array | undefined;
  /** its rendezvous-hash seed */
  seed: number;
  /** when it last gained a chunk (the `now` of that update; -Infinity: never) */
  lastGainAt: number;
  /** chunks a partial source has */
  held: number;
}

/** What the rules read of the picker's state. */
export interface SwarmView {
  selfSeed: number;
  sources: ReadonlyMap<string, SwarmSource>;
  ready: (id: string) => boolean;
  ownerActiveMs: number;
  /** chunks we have */
  ourDone: number;
  /** per chunk: partial sources that have it */
  partialCount: Uint32Array;
  /** chunk → sources whose request of it failed */
  failedBy: ReadonlyMap<number, ReadonlySet<string>>;
}

/**
 * Which chunks a complete source is not to be asked for at `now`: those a usable neighbour has
 * (and did not fail to give us), and those another active downloader owns. Undefined when no
 * usable neighbour is known (the rules change nothing then).
 */
export function seederSkip(v: SwarmView, now: number): ((index: number) => boolean) | undefined {
  const neighbours: Array<[string, Uint8Array]> = [];
  const seeds = [v.selfSeed];
  for (const [id, e] of v.sources) {
    if (e.all || !v.ready(id)) continue;
    neighbours.push([id, e.bits!]);
    // a downloader far behind us (its own download capped, say) does not keep its share from us
    if (now - e.lastGainAt <= v.ownerActiveMs && 2 * e.held >= v.ourDone) seeds.push(e.seed);
  }
  if (neighbours.length === 0) return undefined;
  return (index) => {
    if (v.partialCount[index]! > 0) {
      const failed = v.failedBy.get(index);
      for (const [id, bits] of neighbours) if (hasBit(bits, index) && !failed?.has(id)) return true;
    }
    return seeds.length > 1 && ownerOf(seeds, index) !== 0;
  };
}

/** Has every source holding chunk `index` failed it (`failed`)? Then any of them may try again. */
export function everyHolderFailed(sources: ReadonlyMap<string, SwarmSource>, failed: ReadonlySet<string>, index: number): boolean {
  for (const [id, s] of sources) if ((s.all || hasBit(s.bits!, index)) && !failed.has(id)) return false;
  return true;
}

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

/** Among `seeds` (ours first), whose chunk `index` is: the index in `seeds` of the highest weight (ties: the lower seed). */
export function ownerOf(seeds: readonly number[], index: number): number {
  let best = 0;
  let bestWeight = -1;
  for (let k = 0; k < seeds.length; k++) {
    const w = weight(seeds[k]!, index);
    if (w > bestWeight || (w === bestWeight && seeds[k]! < seeds[best]!)) {
      best = k;
      bestWeight = w;
    }
  }
  return best;
}
