// The swarm rules of the chunk picker, pure: what a downloader asks a complete source (a seeder,
// the scarce uplink) for when neighbours download the same file. A chunk a usable neighbour
// already has comes from that neighbour, never from the seeder; a chunk nobody has yet is asked
// of the seeder by one downloader only: its owner, chosen by rendezvous hashing over the
// downloaders active now (ourselves and every partial source that gained a chunk lately and has
// at least half as many as we do), so every downloader's view gives the same owner without a
// message about it. The owner forwards the chunk to the others, whose upload would otherwise
// stay idle. Each owner asks for its share in an order every downloader can compute, so a
// downloader done with its own share can take over the far end of a slower owner's (seederPick).
import { hasBit } from '../protocol/bitfield.js';
import { computeOwner, weight } from './owners.js';

export { idSeed, ownerOf, weight } from './owners.js';

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
  /** an owner's next chunks in its order, taken to be asked of the seeder already, that others never take over from it (8) */
  ownerAhead?: number;
  /** once every chunk we want is at a neighbour, chunks asked of the seeder at once for the tail (the rarest first; 0: never) (0) */
  seederRelief?: number;
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

/** What seederPick reads of our own chunks. */
export interface SeederPickInput {
  /** per chunk: 0 wanted (asked of nobody), 1 asked of someone, 2 done */
  state: Uint8Array;
  /** may this source be asked for `index` (it did not fail it, or every holder did)? */
  askable: (index: number) => boolean;
  /** an owner's next chunks in its order, taken to be asked of the seeder already: never taken from it */
  ownerAhead: number;
  /** may a chunk a neighbour has be asked of the seeder (the tail's relief) if nothing else is left to ask it? */
  relief: boolean;
}

/**
 * The chunk to ask a complete source (the seeder) for at `now`; undefined when nothing is ours
 * to ask it for; 'off' when no usable neighbour is known (the rules change nothing then: pick
 * freely). A chunk a usable neighbour has (and did not fail to give us) is never asked of the
 * seeder. Of the rest, our own share (rendezvous hashing over the active downloaders) comes
 * first, in a fixed order: highest weight first. So every downloader can tell which of an
 * owner's chunks it is asking for now (its next `ownerAhead` in that order), and once our own
 * share is all asked for we take over the far end of an owner's share that lies beyond that
 * (and beyond what we still wait for ourselves): the chunks we are the runner-up for, the
 * furthest first. An owner the seeder reaches slowly keeps only what it is already fetching,
 * and the downloaders the seeder reaches fast fetch the rest (bench/README.md, "The seeder's
 * slow connections").
 */
export function seederPick(v: SwarmView, now: number, input: SeederPickInput): number | undefined | 'off' {
  const neighbours: Array<[string, Uint8Array]> = [];
  const seeds = [v.selfSeed];
  let partials = 0;
  for (const [id, e] of v.sources) {
    if (e.all) continue;
    partials++;
    if (!v.ready(id)) continue;
    neighbours.push([id, e.bits!]);
    // a downloader far behind us (its own download capped, say) does not keep its share from us
    if (now - e.lastGainAt <= v.ownerActiveMs && 2 * e.held >= v.ourDone) seeds.push(e.seed);
  }
  if (neighbours.length === 0) return 'off';
  // usually every partial source can be asked: then a chunk is held nearby if any of them has it
  const allReady = neighbours.length === partials;
  const { state, askable } = input;
  let own: number | undefined;
  let ownWeight = -1;
  let ownLeft = 0;
  // the chunks of other owners nobody has yet, as owner × 2^32 + weight (sorted, each owner's order
  // is a run of them: owners.ts), how many each owner has, and the chunks we may take over
  const others = new Float64Array(state.length);
  let otherCount = 0;
  const perOwner = new Uint32Array(seeds.length);
  const takeable: Array<[index: number, owner: number, weight: number]> = [];
  // the tail's relief: of the chunks a neighbour has and nobody fetches for us, the rarest (ties: our own order)
  let relief: number | undefined;
  let reliefHolders = Infinity;
  let reliefWeight = -1;
  for (let index = 0; index < state.length; index++) {
    if (state[index] === 2) continue;
    if (heldNearby(v, neighbours, index, allReady)) {
      const holders = v.partialCount[index]!;
      if (!input.relief || state[index] !== 0 || holders > reliefHolders) continue;
      const w = weight(v.selfSeed, index);
      if ((holders < reliefHolders || w > reliefWeight) && askable(index)) [relief, reliefHolders, reliefWeight] = [index, holders, w];
      continue;
    }
    computeOwner(seeds, index, owners);
    const { best, bestWeight } = owners;
    if (best === 0) {
      ownLeft++;
      if (state[index] === 0 && bestWeight > ownWeight && askable(index)) [own, ownWeight] = [index, bestWeight];
      continue;
    }
    others[otherCount++] = best * OWNER_SHIFT + bestWeight;
    perOwner[best]!++;
    if (owners.second === 0 && state[index] === 0 && askable(index)) takeable.push([index, best, bestWeight]);
  }
  if (own !== undefined) return own;
  // the seeder's first pass is out (every chunk we want is at a neighbour): its uplink idles while
  // the last holders' uplinks carry the tail, so it may send one of those chunks again
  if (takeable.length === 0) return ownLeft === 0 && otherCount === 0 ? relief : undefined;
  // an owner's chunks from rank `from` on (0: the next it asks for) are beyond its reach for now
  const from = input.ownerAhead + ownLeft;
  const sorted = others.subarray(0, otherCount).sort(); // numeric, in place: by owner, then weight
  const runEnd = new Float64Array(seeds.length);
  for (let o = 0, end = 0; o < seeds.length; o++) runEnd[o] = end += perOwner[o]!;
  let take: number | undefined;
  let takeRank = -1;
  for (const [index, o, w] of takeable) {
    // how many of owner o's chunks come before this one in its order (weigh more)
    const rank = runEnd[o]! - firstAbove(sorted, o * OWNER_SHIFT + w);
    if (rank >= from && rank > takeRank) [take, takeRank] = [index, rank];
  }
  return take;
}

/** computeOwner's answer for the chunk at hand (one object for every chunk of every pick) */
const owners = { best: 0, bestWeight: 0, second: -1 };

/** An owner's index times this, plus a weight (< 2^32), orders chunks by owner, then weight (exact in a double). */
const OWNER_SHIFT = 2 ** 32;

/** The first position in `asc` (sorted low to high) of a value above `x`. */
function firstAbove(asc: Float64Array, x: number): number {
  let lo = 0;
  let hi = asc.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (asc[mid]! > x) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** Does a usable neighbour have chunk `index` (and did not fail to give it to us)? `allReady`: every partial source is a usable neighbour. */
function heldNearby(v: SwarmView, neighbours: ReadonlyArray<[string, Uint8Array]>, index: number, allReady: boolean): boolean {
  if (v.partialCount[index]! === 0) return false;
  const failed = v.failedBy.get(index);
  if (allReady && !failed) return true;
  for (const [id, bits] of neighbours) if (hasBit(bits, index) && !failed?.has(id)) return true;
  return false;
}

/** Has every source holding chunk `index` failed it (`failed`)? Then any of them may try again. */
export function everyHolderFailed(sources: ReadonlyMap<string, SwarmSource>, failed: ReadonlySet<string>, index: number): boolean {
  for (const [id, s] of sources) if ((s.all || hasBit(s.bits!, index)) && !failed.has(id)) return false;
  return true;
}
