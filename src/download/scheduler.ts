// The chunk scheduler: downloads the missing chunks of one file from every source at once. The
// ChunkPicker (picker.ts) decides what to ask whom (rarest first, endgame); this class moves the
// requests: one pipelined connection per source, strikes and drops, BUSY backoff, cancelling
// endgame losers, writing verified chunks without waiting, sources joining while it runs. It
// reads no clock, timer, randomness or socket itself: `clock`, `random` and `connect` are given.
import { CancelledError, NotFoundError, P2PError, PeerTimeoutError, toP2PError } from '../errors.js';
import type { Source } from '../protocol/messages.js';
import { chunkLength } from '../store/manifest.js';
import type { FetchOptions, FetchOutcome, FetchProgress, SchedulerComponents, SourceEventKind } from './fetch-options.js';
import { ChunkPicker, type HaveUpdate, type SourceHave } from './picker.js';
import { MAX_RECONNECTS, busyBackoffMs, pendingWritesFor, dropsAtOnce, gainedOnly, isFault, inTail, judgeFailure, newSourceState, rejoinDelayMs, requestDepth, type SourceState } from './source.js';
import { RateWindow } from './rate-window.js';

/**
 * Fetches every chunk `partial` is missing. `done` resolves `complete` (all verified and flushed)
 * or `exhausted` (every source dropped, or none had what we need for chunkTimeoutMs; verified
 * chunks stay for a resume); rejects with CancelledError on `signal`, DiskFullError/IoError on disk failure.
 */
export class ChunkScheduler {
  readonly done: Promise<FetchOutcome>;
  private readonly sources = new Map<string, SourceState>();
  private readonly writes = new Set<Promise<void>>();
  private readonly picker: ChunkPicker;
  private readonly pipeline: number;
  private readonly maxPendingWrites: number;
  private finished = false;
  private lastReason = 'no sources';
  private idleSince: number | undefined;
  private readonly rate: RateWindow;
  private settle!: { resolve: (o: FetchOutcome) => void; reject: (e: P2PError) => void };
  private cancelTick: (() => void) | undefined;
  private readonly onAbort = () => this.finish(new CancelledError('download cancelled'));

  constructor(
    private readonly components: SchedulerComponents,
    private readonly opts: FetchOptions,
  ) {
    const { manifest, partial } = opts;
    this.pipeline = Math.max(1, opts.pipeline);
    this.maxPendingWrites = opts.maxPendingWrites ?? pendingWritesFor(this.pipeline, manifest.chunkSize);
    // a neighbour BUSY or gone is not ready; an owner has its pipeline (and 2 done, unannounced) out at the seeder
    const ready = (id: string) => (this.sources.get(id)?.busyUntil ?? Infinity) <= this.now;
    this.picker = new ChunkPicker({ chunkCount: manifest.hashes.length, have: (i) => partial.has(i), random: components.random, endgameMinMs: opts.endgameMinMs, selfId: opts.selfId, ready, ownerAhead: this.pipeline + 2, seederRelief: opts.seederReliefChunks });
    this.rate = new RateWindow(Math.max(3000, 4 * opts.progressMs), { at: components.clock.now(), bytes: partial.verifiedBytes() });
    this.done = new Promise<FetchOutcome>((resolve, reject) => (this.settle = { resolve, reject }));
  }

  /** Start with the given sources (returns this, for chaining). */
  start(): this {
    const { signal, partial } = this.opts;
    if (signal.aborted) this.onAbort();
    else if (partial.isComplete()) this.finish({ outcome: 'complete' });
    else {
      signal.addEventListener('abort', this.onAbort, { once: true });
      this.scheduleTick();
      this.addSources(this.opts.sources);
      this.checkDone();
    }
    return this;
  }

  /** Sources with the whole file join the running fetch (known ones are left as they are). */
  addSources(list: Source[]): void {
    for (const source of list) if (!this.sources.has(source.peerId)) this.admit(source, { kind: 'all' }, { kind: 'all' });
  }

  /** What a source has now (a new one joins; a dropped one may come back unless it cheated). */
  updateSource(source: Source, change: HaveUpdate): void {
    this.admit(source, change.kind === 'gained' ? undefined : change, change);
  }

  private get now(): number { return this.components.clock.now(); }
  private event = (peerId: string, kind: SourceEventKind, detail?: string) => this.opts.onSourceEvent?.({ peerId, kind, detail });
  private live = () => [...this.sources.values()].filter((s) => s.status === 'live');

  /** Counters to the listener; the rate over the last seconds (the final one: since the start). */
  private report(final: boolean): void {
    const { partial, manifest } = this.opts;
    const [now, bytes] = [this.now, partial.verifiedBytes()];
    const rateBps = final ? this.rate.overall(now, bytes) : this.rate.sample(now, bytes);
    const progress: FetchProgress = { verifiedChunks: partial.verifiedCount(), totalChunks: manifest.hashes.length, bytes, sources: this.live().length, rateBps };
    try {
      this.opts.onProgress(progress);
    } catch (err) {
      this.opts.logger.error('progress listener failed', { err: (err as Error).message });
    }
  }

  /** Every progressMs: report, let endgame duplicates fall due, notice a swarm with nothing for us. */
  private scheduleTick(): void {
    this.cancelTick = this.components.clock.setTimeout(() => {
      if (this.finished) return;
      this.report(false);
      this.fill();
      this.checkIdle();
      this.scheduleTick();
    }, this.opts.progressMs);
  }

  /** Keep every live source's pipeline full. */
  private fill(): void {
    if (this.finished) return;
    const { now, opts } = this;
    // in the tail a neighbour is asked for one chunk at a time: a last holder's uplink finishes each copy sooner, to be passed on
    const tail = inTail(this.picker.remaining(), opts.manifest.hashes.length, opts.tailPercent);
    for (const s of this.sources.values()) {
      if (s.status !== 'live' || s.busyUntil > now) continue;
      const depth = requestDepth(this.picker.isComplete(s.source.peerId), this.pipeline, opts.manifest.chunkSize, opts.neighbourInFlightBytes, tail);
      while (s.requests.size < depth && this.writes.size < this.maxPendingWrites) {
        const index = this.picker.pick(s.source.peerId, now);
        if (index === undefined) break;
        const closed = s.conn!.closeReason;
        if (closed && s.requests.size === 0) {
          // closed while we had nothing to ask: reconnect (a server closes idle connections),
          // unless it closed for misbehaving
          this.picker.released(index, s.source.peerId);
          if (isFault(closed)) this.drop(s, `${closed.code}: ${closed.message}`, true);
          else this.reconnect(s);
          break;
        }
        this.request(s, index);
      }
    }
    this.checkDone();
  }

  private request(s: SourceState, index: number): void {
    const { manifest, fileId, partial } = this.opts;
    const cancel = new AbortController();
    s.requests.set(index, cancel);
    const length = chunkLength(manifest.size, manifest.chunkSize, index);
    const conn = s.conn!;
    // NOT_FOUND from a source partial when asked is a miss, though it is complete by the answer
    const askedComplete = this.picker.isComplete(s.source.peerId);
    const askedAt = this.now;
    const ended = (outcome: string) => this.opts.onRequestEnd?.({ index, from: s.source.peerId, complete: askedComplete, tookMs: this.now - askedAt, outcome });
    conn.getChunk(fileId, index, length, manifest.hashes[index]!, cancel.signal).then(
      (slices) => {
        s.requests.delete(index);
        const done = () => conn.release?.(slices);
        if (this.finished) return done();
        Object.assign(s, { busyCount: 0, misses: 0, reconnects: 0 });
        const losers = this.picker.completed(index, s.source.peerId, this.now);
        ended(losers ? 'ok' : 'lost');
        if (!losers) {
          done(); // another source's copy won
          return this.fill();
        }
        for (const peerId of losers) this.sources.get(peerId)?.requests.get(index)?.abort();
        this.event(s.source.peerId, 'chunk', String(index));
        const write = partial.writeChunk(index, slices).finally(done).then(
          () => {
            this.writes.delete(write);
            this.opts.onVerified?.(index);
            this.fill();
          },
          (err: unknown) => {
            this.writes.delete(write);
            this.finish(toP2PError(err));
          },
        );
        this.writes.add(write);
        this.fill();
      },
      (err: unknown) => {
        s.requests.delete(index);
        const e = toP2PError(err);
        ended(e.code);
        this.failed(s, index, e, askedComplete);
      },
    );
  }

  /** A request failed: whose fault (source.ts judges), and what now (ask again, back off, strike, drop). */
  private failed(s: SourceState, index: number, err: P2PError, askedComplete: boolean): void {
    if (this.finished) return;
    const peerId = s.source.peerId;
    const verdict = judgeFailure(s, err, askedComplete);
    if (verdict === 'miss') this.picker.lacks(peerId, index);
    if (verdict !== 'fault') this.picker.released(index, peerId);
    if (verdict === 'reconnect') this.reconnect(s);
    else if (verdict === 'refused') this.drop(s, `${err.code}: ${err.message}`, false);
    else if (verdict === 'busy') {
      s.busyCount++;
      const wait = busyBackoffMs(s.busyCount, this.components.random());
      if (s.busyUntil <= this.now) this.event(peerId, 'busy');
      s.busyUntil = this.now + wait;
      this.components.clock.setTimeout(() => this.fill(), wait + 1);
    } else if (verdict === 'fault') {
      if (err instanceof NotFoundError) {
        this.picker.lacks(peerId, index); // a partial source that keeps claiming chunks it does not serve: now that is a strike
        s.misses = 0;
      }
      this.picker.failed(index, peerId);
      if (dropsAtOnce(s, err)) this.drop(s, `${err.code}: ${err.message}`, isFault(err));
      else {
        s.strikes++;
        this.opts.logger.warn('chunk failed', { peerId, index, code: err.code, strikes: s.strikes });
        this.event(peerId, 'strike', err.code);
        const banned = !(err instanceof PeerTimeoutError); // slow (a loaded neighbour) is no cheat: dropped for a while
        if (s.strikes >= Math.max(1, this.opts.maxStrikes)) this.drop(s, `${s.strikes} strikes, last ${err.code}`, banned);
      }
    }
    this.fill();
  }

  private drop(s: SourceState, reason: string, banned: boolean): void {
    if (s.status === 'dropped') return;
    Object.assign(s, { status: 'dropped', banned, drops: s.drops + 1 });
    s.rejoinAt = this.now + rejoinDelayMs(s.drops);
    this.picker.removeSource(s.source.peerId);
    this.lastReason = `last source ${s.source.peerId} dropped: ${reason}`;
    this.opts.logger.warn('source dropped', { peerId: s.source.peerId, reason });
    this.event(s.source.peerId, 'dropped', reason);
    s.conn?.close(); // its outstanding requests fail and go back to the pool
  }

  private connect(s: SourceState): void {
    const { peerId } = s.source;
    this.components.connect(s.source).then(
      (conn) => {
        if (this.finished || s.status === 'dropped') return conn.close();
        s.conn = conn;
        s.status = 'live';
        this.opts.logger.debug('source connected', { peerId });
        this.event(peerId, 'connected');
        this.fill();
      },
      (err: unknown) => {
        const e = toP2PError(err);
        this.drop(s, `${e.code}: ${e.message}`, isFault(e));
        this.fill();
      },
    );
  }

  private reconnect(s: SourceState): void {
    s.conn?.close();
    if (++s.reconnects > MAX_RECONNECTS) return this.drop(s, `closed ${s.reconnects} connections in a row without a chunk`, false);
    Object.assign(s, { status: 'connecting', conn: undefined });
    this.connect(s);
  }

  /** A source joins (or comes back), or tells us what it has now. */
  private admit(source: Source, have: SourceHave | undefined, change: HaveUpdate): void {
    if (this.finished) return;
    const known = this.sources.get(source.peerId);
    if (known && known.status !== 'dropped') {
      this.picker.update(source.peerId, change, this.now);
      return this.fill();
    }
    if (known && (known.banned || this.now < known.rejoinAt)) return;
    // a delta from a source we do not know yet: it has at least those chunks
    const initial = have ?? gainedOnly(change, this.opts.manifest.hashes.length);
    const s = known ?? newSourceState(source);
    Object.assign(s, { source, status: 'connecting', conn: undefined, strikes: 0, busyUntil: 0, busyCount: 0 });
    this.sources.set(source.peerId, s);
    // known to the picker while it connects: it counts for rarity, and is asked once live
    this.picker.addSource(source.peerId, initial, this.now);
    this.connect(s);
  }

  private checkDone(): void {
    if (this.finished || this.writes.size > 0) return;
    if (this.opts.partial.isComplete()) return void this.finish({ outcome: 'complete' });
    if (![...this.sources.values()].some((s) => s.status !== 'dropped')) this.finish({ outcome: 'exhausted', reason: this.lastReason });
  }

  /** Sources connected but none has (or will give) what we miss: give up after chunkTimeoutMs. */
  private checkIdle(): void {
    if (this.finished) return;
    const waiting = this.picker.inFlight() > 0 || this.writes.size > 0 || [...this.sources.values()].some((s) => s.status === 'connecting');
    if (waiting) return void (this.idleSince = undefined);
    const now = this.now;
    this.idleSince ??= now;
    if (now - this.idleSince < this.opts.chunkTimeoutMs) return;
    const busy = this.live().filter((s) => s.busyUntil > now - this.opts.chunkTimeoutMs).length;
    const left = this.picker.remaining();
    this.finish({ outcome: 'exhausted', reason: busy > 0 ? `${busy} source(s) busy, ${left} chunks left` : `no source has the ${left} missing chunks` });
  }

  /** Stop everything, let the disk catch up, persist the bitfield, then settle. */
  private finish(result: FetchOutcome | P2PError): void {
    if (this.finished) return;
    this.finished = true;
    this.cancelTick?.();
    this.opts.signal.removeEventListener('abort', this.onAbort);
    for (const s of this.sources.values()) s.conn?.close();
    void (async () => {
      await Promise.allSettled([...this.writes]);
      try {
        await this.opts.partial.flush();
      } catch (err) {
        if (!(result instanceof P2PError)) result = toP2PError(err);
      }
      this.report(true);
      return result instanceof P2PError ? this.settle.reject(result) : this.settle.resolve(result);
    })();
  }
}
