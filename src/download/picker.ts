// Chunk selection for one download, pure (no I/O, no timers; the caller passes `now`): which
// chunk to ask a source for next. Rarest first across the known sources (random among equals),
// only chunks that source has, and an endgame for the tail: a request that has been out longer
// than the threshold may be duplicated on an idle source; the first answer wins, the caller
// cancels the others (`completed` names them). With neighbours downloading too, a complete source
// is asked only for what no neighbour has and is ours to fetch (picker-swarm.ts: super-seeding).
import { bitfieldBytes, clearBit, forEachDiff, hasBit, setBit } from '../protocol/bitfield.js';
import { ChunkPool } from './picker-pool.js';
import { everyHolderFailed, idSeed, seederPick, type SwarmSource } from './picker-swarm.js';

export type { HaveUpdate, PickerOptions, SourceHave } from './picker-types.js';
import type { HaveUpdate, PickerOptions, SourceHave } from './picker-types.js';

const WANTED = 0;
const IN_FLIGHT = 1;
const DONE = 2;

/**
 * Rarest-first chunk picker with endgame. Memory is a few bytes per chunk plus one bitfield per
 * partial source; nothing per chunk is allocated on the heap.
 */
export class ChunkPicker {
  private readonly count: number;
  private readonly state: Uint8Array;
  /** wanted chunks nobody is fetching, in random order */
  private readonly pool: ChunkPool;
  /** per chunk: partial sources that have it (complete sources are `allCount`) */
  private readonly partialCount: Uint32Array;
  private allCount = 0;
  private readonly sources = new Map<string, SwarmSource>();
  /** chunk → requester → when it was asked */
  private readonly inflight = new Map<number, Map<string, number>>();
  private readonly failedBy = new Map<number, Set<string>>();
  private left = 0;
  private typicalMs: number | undefined;
  private readonly random: () => number;
  private readonly endgameMinMs: number;
  private readonly endgameFactor: number;
  private readonly maxRequesters: number;
  private readonly scanLimit: number;
  /** the swarm rules' settings (picker-swarm.ts); no selfSeed: off */
  private readonly swarm: { selfSeed: number | undefined; ready: (id: string) => boolean; ownerActiveMs: number; stallMs: number; ownerAhead: number; seederRelief: number };
  /** when a chunk last completed (or the first pick) */
  private lastProgressAt: number | undefined;

  constructor(opts: PickerOptions) {
    this.count = opts.chunkCount;
    this.random = opts.random ?? Math.random;
    this.endgameMinMs = opts.endgameMinMs ?? 1000;
    this.endgameFactor = opts.endgameFactor ?? 3;
    this.maxRequesters = Math.max(1, opts.maxRequesters ?? 3);
    this.scanLimit = Math.max(1, opts.scanLimit ?? 4096);
    const selfSeed = opts.selfId === undefined ? undefined : idSeed(opts.selfId);
    this.swarm = { selfSeed, ready: opts.ready ?? (() => true), ownerActiveMs: opts.ownerActiveMs ?? 5000, stallMs: opts.stallMs ?? 5000, ownerAhead: opts.ownerAhead ?? 8, seederRelief: opts.seederRelief ?? 0 };
    this.state = new Uint8Array(this.count);
    this.pool = new ChunkPool(this.count, this.random);
    this.partialCount = new Uint32Array(this.count);
    for (let i = 0; i < this.count; i++) {
      if (opts.have(i)) this.state[i] = DONE;
      else {
        this.left++;
        this.pool.add(i);
      }
    }
  }

  /** Chunks not yet completed. */
  remaining(): number {
    return this.left;
  }

  /** Requests out now (a duplicated chunk counts once per requester), or those to source `id`. */
  inFlight(id?: string): number {
    let n = 0;
    for (const reqs of this.inflight.values()) n += id === undefined ? reqs.size : Number(reqs.has(id));
    return n;
  }

  /** Known sources that have `index` (complete sources count). */
  availability(index: number): number {
    return this.allCount + this.partialCount[index]!;
  }

  hasSource(id: string): boolean {
    return this.sources.has(id);
  }

  /** Is `id` a source of the whole file? */
  isComplete(id: string): boolean {
    return this.sources.get(id)?.all === true;
  }

  /** Does source `id` have chunk `index`? */
  sourceHas(id: string, index: number): boolean {
    const s = this.sources.get(id);
    return s !== undefined && (s.all || hasBit(s.bits!, index));
  }

  /** Add a source (or replace what an existing one has); `now` dates a gain (see update). */
  addSource(id: string, have: SourceHave, now?: number): void {
    if (!this.sources.has(id)) this.sources.set(id, { all: false, bits: new Uint8Array(bitfieldBytes(this.count)), seed: idSeed(id), lastGainAt: -Infinity, held: 0 });
    this.update(id, have, now);
  }

  /**
   * Apply what a source says it has. A complete source stays complete. A partial source that
   * gains a chunk at `now` counts as downloading with us for ownerActiveMs.
   */
  update(id: string, change: HaveUpdate, now?: number): void {
    const s = this.sources.get(id);
    if (!s || s.all) return;
    const bits = s.bits!;
    const before = s.held;
    this.applyChange(s, bits, change);
    if (now !== undefined && s.held > before) s.lastGainAt = now;
  }

  private applyChange(s: SwarmSource, bits: Uint8Array, change: HaveUpdate): void {
    if (change.kind === 'all') {
      for (let i = 0; i < this.count; i++) if (hasBit(bits, i)) this.partialCount[i]!--;
      s.all = true;
      s.bits = undefined;
      this.allCount++;
    } else if (change.kind === 'bits') {
      forEachDiff(bits, change.bits, this.count, (i, has) => (has ? this.gain(s, i) : this.lose(s, i)));
    } else {
      for (const [start, end] of change.ranges) {
        for (let i = Math.max(0, start); i < Math.min(end, this.count); i++) if (!hasBit(bits, i)) this.gain(s, i);
      }
    }
  }

  /** A partial source said it lacks `index` after all (no blame: it is forgotten until it says otherwise). */
  lacks(id: string, index: number): void {
    const s = this.sources.get(id);
    if (s && !s.all && hasBit(s.bits!, index)) this.lose(s, index);
  }

  /** Forget a source; its requests still end through `failed` or `released`. */
  removeSource(id: string): void {
    const s = this.sources.get(id);
    if (!s) return;
    this.sources.delete(id);
    if (s.all) this.allCount--;
    else for (let i = 0; i < this.count; i++) if (hasBit(s.bits!, i)) this.partialCount[i]!--;
  }

  /**
   * The next chunk to ask source `id` for, now marked as requested by it; undefined when it has
   * nothing useful. Fresh chunks first (rarest, random among equals), then endgame duplicates.
   */
  pick(id: string, now: number): number | undefined {
    const s = this.sources.get(id);
    if (!s) return undefined;
    this.lastProgressAt ??= now;
    const fresh = this.pickNew(id, s, now);
    if (fresh !== undefined) {
      this.pool.remove(fresh);
      this.state[fresh] = IN_FLIGHT;
      this.inflight.set(fresh, new Map([[id, now]]));
      return fresh;
    }
    // with neighbours, duplicates wait for the real endgame (every wanted chunk out), or a stall
    if (this.swarm.selfSeed !== undefined && this.pool.size > 0 && !this.stalled(now)) return undefined;
    const dup = this.pickDuplicate(id, s, now);
    if (dup !== undefined) this.inflight.get(dup)!.set(id, now);
    return dup;
  }

  /**
   * Chunk `index` arrived verified from `id`. Returns the other sources asked for it (cancel
   * them), or undefined when it had already arrived from someone else (drop this copy).
   */
  completed(index: number, id: string, now: number): string[] | undefined {
    if (this.state[index] === DONE) return undefined;
    this.lastProgressAt = Math.max(this.lastProgressAt ?? now, now);
    const reqs = this.inflight.get(index);
    const started = reqs?.get(id);
    if (started !== undefined) {
      const took = Math.max(0, now - started);
      this.typicalMs = this.typicalMs === undefined ? took : this.typicalMs * 0.8 + took * 0.2;
    }
    if (this.state[index] === WANTED) this.pool.remove(index);
    this.state[index] = DONE;
    this.left--;
    this.inflight.delete(index);
    this.failedBy.delete(index);
    return reqs ? [...reqs.keys()].filter((r) => r !== id) : [];
  }

  /** The request of `index` to `id` failed: `id` is not asked for it again while another source has it. */
  failed(index: number, id: string): void {
    if (this.end(index, id)) {
      let by = this.failedBy.get(index);
      if (!by) this.failedBy.set(index, (by = new Set()));
      by.add(id);
    }
  }

  /** The request of `index` to `id` ended without blame (busy, cancelled). */
  released(index: number, id: string): void {
    this.end(index, id);
  }

  /** When the typical request took `typicalMs`, a request this old may be duplicated. */
  endgameAfterMs(): number {
    return Math.max(this.endgameMinMs, (this.typicalMs ?? 0) * this.endgameFactor);
  }

  private end(index: number, id: string): boolean {
    const reqs = this.inflight.get(index);
    if (this.state[index] !== IN_FLIGHT || !reqs?.delete(id)) return false;
    if (reqs.size === 0) {
      this.inflight.delete(index);
      this.state[index] = WANTED;
      this.pool.add(index);
    }
    return true;
  }

  /** A chunk nobody is fetching for source `id`; for a complete source the swarm rules choose (picker-swarm.ts), unless nothing completed lately. */
  private pickNew(id: string, s: SwarmSource, now: number): number | undefined {
    const { selfSeed, ready, ownerActiveMs, ownerAhead, seederRelief } = this.swarm;
    if (!s.all || selfSeed === undefined || this.stalled(now)) return this.pickFresh(id, s);
    const view = { selfSeed, sources: this.sources, ready, ownerActiveMs, partialCount: this.partialCount, failedBy: this.failedBy, ourDone: this.count - this.left };
    const choice = seederPick(view, now, { state: this.state, askable: (index) => this.askable(id, index), ownerAhead, relief: seederRelief > 0 && this.inFlight(id) < seederRelief });
    return choice === 'off' ? this.pickFresh(id, s) : choice;
  }

  /** Not failed by `id`, or failed by every holder (then any of them may try again). */
  private askable(id: string, index: number): boolean {
    const failed = this.failedBy.get(index);
    return !failed?.has(id) || everyHolderFailed(this.sources, failed, index);
  }

  /** Nothing completed for stallMs (or twice the endgame's wait, if longer). */
  private stalled(now: number): boolean {
    return now - this.lastProgressAt! >= Math.max(this.swarm.stallMs, 2 * this.endgameAfterMs());
  }

  private pickFresh(id: string, s: SwarmSource): number | undefined {
    const n = Math.min(this.pool.size, this.scanLimit);
    if (n === 0) return undefined;
    // the rarest a chunk this source has can be: held by every complete source (and it)
    const floor = this.allCount + (s.all ? 0 : 1);
    const start = this.pool.size > n ? Math.floor(this.random() * this.pool.size) : 0;
    let best: number | undefined;
    let bestAvail = Infinity;
    let ties = 0;
    for (let k = 0; k < n; k++) {
      const index = this.pool.at((start + k) % this.pool.size);
      if (!s.all && !hasBit(s.bits!, index)) continue;
      if (!this.askable(id, index)) continue;
      const avail = this.allCount + this.partialCount[index]!;
      if (avail < bestAvail) {
        best = index;
        bestAvail = avail;
        ties = 1;
        // the pool is in random order, so the first rarest-possible one is a random one of them
        if (avail <= floor) break;
      } else if (avail === bestAvail && this.random() * ++ties < 1) {
        best = index;
      }
    }
    return best;
  }

  private pickDuplicate(id: string, s: SwarmSource, now: number): number | undefined {
    const after = this.endgameAfterMs();
    let best: number | undefined;
    let bestCount = Infinity;
    let bestStart = Infinity;
    for (const [index, reqs] of this.inflight) {
      if (reqs.has(id) || reqs.size >= this.maxRequesters) continue;
      if (!s.all && !hasBit(s.bits!, index)) continue;
      if (this.failedBy.get(index)?.has(id)) continue;
      let oldest = Infinity;
      for (const at of reqs.values()) oldest = Math.min(oldest, at);
      if (now - oldest < after) continue;
      if (reqs.size < bestCount || (reqs.size === bestCount && oldest < bestStart)) {
        best = index;
        bestCount = reqs.size;
        bestStart = oldest;
      }
    }
    return best;
  }

  private gain(s: SwarmSource, index: number): void {
    s.held++;
    setBit(s.bits!, index);
    this.partialCount[index]!++;
  }

  private lose(s: SwarmSource, index: number): void {
    s.held--;
    clearBit(s.bits!, index);
    this.partialCount[index]!--;
  }
}
