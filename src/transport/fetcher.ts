// The chunk scheduler: downloads the missing chunks of one file from every source at once. The
// ChunkPicker decides what to ask whom (rarest first, endgame); this file moves the requests:
// one pipelined connection per source, strikes and drops, BUSY backoff, cancelling endgame
// losers, writing verified chunks without waiting, and sources joining while it runs.
import type { Logger } from 'winston';
import { AuthFailedError, BusyError, CancelledError, NotFoundError, P2PError, PeerUnreachableError, ProtocolError, TimeoutError, toP2PError } from '../errors.js';
import { bitfieldBytes, setBit } from '../protocol/bitfield.js';
import type { Source } from '../protocol/messages.js';
import { chunkLength, type Manifest } from '../store/manifest.js';
import type { PartialDownload } from '../store/partial.js';
import { PeerConnection } from './chunk-client.js';
import type { FairThrottle } from './rate-limit.js';
import type { ClientSecurity } from './security.js';
import { ChunkPicker, type HaveUpdate, type SourceHave } from './selection.js';

/** What the fetcher reports: the download machine's `fetch.progress` payload (one definition). */
export type { FetchProgress } from '../../machines/download.js';
import type { FetchProgress } from '../../machines/download.js';
export { fetchManifest } from './manifest-fetch.js';

/** Verified chunk bytes waiting for the disk at most (at least two chunks). */
const PENDING_WRITE_BYTES = 64 * 1024 * 1024;
/** NOT_FOUND answers a partial source may give in a row before the next one is a strike. */
const MAX_MISSES = 32;
/** Connections to one source closed in a row without a chunk before it is dropped. */
const MAX_RECONNECTS = 3;

export type SourceEventKind = 'connected' | 'strike' | 'dropped' | 'busy' | 'chunk';

export interface FetchOptions {
  fileId: string;
  manifest: Manifest;
  /** sources that have the whole file (from the tracker) */
  sources: Source[];
  partial: PartialDownload;
  /** requests in flight per source */
  pipeline: number;
  /** connect timeout; a request fails when its connection is silent this long */
  chunkTimeoutMs: number;
  maxStrikes: number;
  progressMs: number;
  logger: Logger;
  signal: AbortSignal;
  onProgress: (p: FetchProgress) => void;
  onSourceEvent?: (e: { peerId: string; kind: SourceEventKind; detail?: string }) => void;
  /** a chunk was verified and written (the peer tells the swarm) */
  onVerified?: (index: number) => void;
  /** verified chunks waiting for the disk before we stop asking for more (default max(8, 2 × pipeline), at most 64 MiB of them) */
  maxPendingWrites?: number;
  /** the peer's download cap, shared by all its connections */
  throttle?: FairThrottle;
  /** swarm key and TLS for chunk connections */
  security?: ClientSecurity;
  /** a request out this long (at least) may be duplicated on an idle source (default 1000 ms) */
  endgameMinMs?: number;
  random?: () => number;
}

export type FetchOutcome = { outcome: 'complete' } | { outcome: 'exhausted'; reason: string };

/** A running fetch: its result, and a way to feed it sources discovered meanwhile. */
export interface FetchHandle {
  done: Promise<FetchOutcome>;
  /** Sources with the whole file join the running fetch (known ones are left as they are). */
  addSources(sources: Source[]): void;
  /** What a source has now (a new one joins; a dropped one may come back unless it cheated). */
  updateSource(source: Source, change: HaveUpdate): void;
}

interface SourceState {
  source: Source;
  status: 'connecting' | 'live' | 'dropped';
  conn: PeerConnection | undefined;
  strikes: number;
  /** chunk index → its request's cancel switch */
  requests: Map<number, AbortController>;
  /** said BUSY: not asked again before then */
  busyUntil: number;
  busyCount: number;
  /** NOT_FOUND answers of a partial source since its last chunk */
  misses: number;
  /** dropped for bad answers: never taken back */
  banned: boolean;
  /** new connections since its last chunk (a server closes connections left idle) */
  reconnects: number;
  drops: number;
  rejoinAt: number;
}

/**
 * Fetch every chunk `partial` is missing. Resolves `complete` (all verified and flushed) or
 * `exhausted` (every source dropped, or none had anything we need for chunkTimeoutMs; verified
 * chunks stay for a resume). Rejects with CancelledError when `signal` aborts,
 * DiskFullError/IoError when the disk fails.
 */
export function fetchFile(opts: FetchOptions): Promise<FetchOutcome> {
  return startFetch(opts).done;
}

export function startFetch(opts: FetchOptions): FetchHandle {
  const { manifest, partial, fileId, logger: log } = opts;
  const pipeline = Math.max(1, opts.pipeline);
  // bounded in bytes too: with big chunks (big files) fewer wait, so memory stays flat
  const maxPendingWrites = opts.maxPendingWrites ?? Math.max(2, Math.min(Math.max(8, pipeline * 2), Math.floor(PENDING_WRITE_BYTES / manifest.chunkSize)));
  const sources = new Map<string, SourceState>();
  const writes = new Set<Promise<void>>();
  const picker = new ChunkPicker({ chunkCount: manifest.hashes.length, have: (i) => partial.has(i), random: opts.random, endgameMinMs: opts.endgameMinMs });
  let finished = false;
  let lastReason = 'no sources';
  let idleSince: number | undefined;
  const startedAt = Date.now();
  const startBytes = partial.verifiedBytes();
  let mark = { at: startedAt, bytes: startBytes };
  let settle!: { resolve: (o: FetchOutcome) => void; reject: (e: P2PError) => void };
  const done = new Promise<FetchOutcome>((resolve, reject) => (settle = { resolve, reject }));

  const event = (peerId: string, kind: SourceEventKind, detail?: string) => opts.onSourceEvent?.({ peerId, kind, detail });
  const live = () => [...sources.values()].filter((s) => s.status === 'live');

  const progress = (final: boolean): FetchProgress => {
    const now = Date.now();
    const bytes = partial.verifiedBytes();
    const since = final ? { at: startedAt, bytes: startBytes } : mark;
    const rateBps = now > since.at ? Math.round(((bytes - since.bytes) * 1000) / (now - since.at)) : 0;
    mark = { at: now, bytes };
    return { verifiedChunks: partial.verifiedCount(), totalChunks: manifest.hashes.length, bytes, sources: live().length, rateBps };
  };
  const report = (final: boolean) => {
    try {
      opts.onProgress(progress(final));
    } catch (err) {
      log.error('progress listener failed', { err: (err as Error).message });
    }
  };
  const ticker = setInterval(() => {
    report(false);
    fill(); // endgame duplicates become due with time
    checkIdle();
  }, opts.progressMs);
  ticker.unref();

  const fill = () => {
    if (finished) return;
    const now = Date.now();
    for (const s of sources.values()) {
      if (s.status !== 'live' || s.busyUntil > now) continue;
      while (s.requests.size < pipeline && writes.size < maxPendingWrites) {
        const index = picker.pick(s.source.peerId, now);
        if (index === undefined) break;
        const closed = s.conn!.closeReason;
        if (closed && s.requests.size === 0) {
          // closed while we had nothing to ask: reconnect (a server closes idle connections),
          // unless it closed for misbehaving
          picker.released(index, s.source.peerId);
          if (isFault(closed)) drop(s, `${closed.code}: ${closed.message}`, true);
          else reconnect(s);
          break;
        }
        request(s, index);
      }
    }
    checkDone();
  };

  const request = (s: SourceState, index: number) => {
    const cancel = new AbortController();
    s.requests.set(index, cancel);
    const length = chunkLength(manifest.size, manifest.chunkSize, index);
    s.conn!.getChunk(fileId, index, length, manifest.hashes[index]!, cancel.signal).then(
      (slices) => {
        s.requests.delete(index);
        if (finished) return;
        s.busyCount = 0;
        s.misses = 0;
        s.reconnects = 0;
        const losers = picker.completed(index, s.source.peerId, Date.now());
        if (!losers) return fill(); // another source's copy won
        for (const peerId of losers) sources.get(peerId)?.requests.get(index)?.abort();
        event(s.source.peerId, 'chunk', String(index));
        const write = partial.writeChunk(index, slices).then(
          () => {
            writes.delete(write);
            opts.onVerified?.(index);
            fill();
          },
          (err: unknown) => {
            writes.delete(write);
            finish(toP2PError(err));
          },
        );
        writes.add(write);
        fill();
      },
      (err: unknown) => {
        s.requests.delete(index);
        failed(s, index, toP2PError(err));
      },
    );
  };

  const failed = (s: SourceState, index: number, err: P2PError) => {
    if (finished) return;
    const peerId = s.source.peerId;
    if (err instanceof CancelledError || s.status !== 'live') {
      picker.released(index, peerId);
    } else if (s.conn!.closeReason instanceof TimeoutError) {
      // the server closed the connection as idle just as we asked: not its fault, ask again
      picker.released(index, peerId);
      reconnect(s);
    } else if (err instanceof BusyError && s.conn!.closed) {
      // it refused the whole connection (at its connection caps): not its fault; it may come back
      picker.released(index, peerId);
      drop(s, `${err.code}: ${err.message}`, false);
    } else if (err instanceof BusyError) {
      // no slot for us there now: not its fault; back off and ask again later
      picker.released(index, peerId);
      s.busyCount++;
      const wait = Math.min(3000, 250 * 1.5 ** Math.min(8, s.busyCount - 1)) * (0.75 + 0.5 * Math.random());
      if (s.busyUntil <= Date.now()) event(peerId, 'busy');
      s.busyUntil = Date.now() + wait;
      setTimeout(fill, wait + 1).unref();
    } else if (err instanceof NotFoundError && !picker.isComplete(peerId) && ++s.misses < MAX_MISSES) {
      // a partial source without that chunk (after all, or it stopped): forget it has it, no blame
      picker.lacks(peerId, index);
      picker.released(index, peerId);
    } else {
      if (err instanceof NotFoundError) {
        // a partial source that keeps claiming chunks it does not serve: now that is a strike
        picker.lacks(peerId, index);
        s.misses = 0;
      }
      picker.failed(index, peerId);
      if (s.conn!.closed || err instanceof PeerUnreachableError || err instanceof ProtocolError) {
        drop(s, `${err.code}: ${err.message}`, isFault(err));
      } else {
        s.strikes++;
        log.warn('chunk failed', { peerId, index, code: err.code, strikes: s.strikes });
        event(peerId, 'strike', err.code);
        if (s.strikes >= Math.max(1, opts.maxStrikes)) drop(s, `${s.strikes} strikes, last ${err.code}`, true);
      }
    }
    fill();
  };

  const drop = (s: SourceState, reason: string, banned: boolean) => {
    if (s.status === 'dropped') return;
    s.status = 'dropped';
    s.banned = banned;
    s.drops++;
    s.rejoinAt = Date.now() + Math.min(30_000, 2000 * 2 ** (s.drops - 1));
    picker.removeSource(s.source.peerId);
    lastReason = `last source ${s.source.peerId} dropped: ${reason}`;
    log.warn('source dropped', { peerId: s.source.peerId, reason });
    event(s.source.peerId, 'dropped', reason);
    s.conn?.close(); // its outstanding requests fail and go back to the pool
  };

  const connect = (s: SourceState) => {
    const { endpoint, peerId } = s.source;
    const connOpts = { timeoutMs: opts.chunkTimeoutMs, logger: log, maxChunkBytes: manifest.chunkSize, throttle: opts.throttle, security: opts.security };
    PeerConnection.connect(endpoint, connOpts).then(
      (conn) => {
        if (finished || s.status === 'dropped') return conn.close();
        s.conn = conn;
        s.status = 'live';
        log.debug('source connected', { peerId, remote: conn.remote });
        event(peerId, 'connected');
        fill();
      },
      (err: unknown) => {
        const e = toP2PError(err);
        drop(s, `${e.code}: ${e.message}`, isFault(e));
        fill();
      },
    );
  };

  const reconnect = (s: SourceState) => {
    s.conn?.close();
    if (++s.reconnects > MAX_RECONNECTS) return drop(s, `closed ${s.reconnects} connections in a row without a chunk`, false);
    s.status = 'connecting';
    s.conn = undefined;
    connect(s);
  };

  /** A source joins (or comes back), or tells us what it has now. */
  const admit = (source: Source, have: SourceHave | undefined, change: HaveUpdate) => {
    if (finished) return;
    const known = sources.get(source.peerId);
    if (known && known.status !== 'dropped') {
      picker.update(source.peerId, change);
      return fill();
    }
    if (known && (known.banned || Date.now() < known.rejoinAt)) return;
    // a delta from a source we do not know yet: it has at least those chunks
    const initial = have ?? gainedOnly(change, manifest.hashes.length);
    const s: SourceState = known ?? {
      source,
      status: 'connecting',
      conn: undefined,
      strikes: 0,
      requests: new Map(),
      busyUntil: 0,
      busyCount: 0,
      misses: 0,
      banned: false,
      reconnects: 0,
      drops: 0,
      rejoinAt: 0,
    };
    Object.assign(s, { source, status: 'connecting', conn: undefined, strikes: 0, busyUntil: 0, busyCount: 0 });
    sources.set(source.peerId, s);
    // known to the picker while it connects: it counts for rarity, and is asked once live
    picker.addSource(source.peerId, initial);
    connect(s);
  };

  const addSources = (list: Source[]) => {
    for (const source of list) if (!sources.has(source.peerId)) admit(source, { kind: 'all' }, { kind: 'all' });
  };

  const updateSource = (source: Source, change: HaveUpdate) => admit(source, change.kind === 'gained' ? undefined : change, change);

  const checkDone = () => {
    if (finished || writes.size > 0) return;
    if (partial.isComplete()) return void finish({ outcome: 'complete' });
    if (![...sources.values()].some((s) => s.status !== 'dropped')) finish({ outcome: 'exhausted', reason: lastReason });
  };

  /** Sources connected but none has (or will give) what we miss: give up after chunkTimeoutMs. */
  const checkIdle = () => {
    if (finished) return;
    const waiting = picker.inFlight() > 0 || writes.size > 0 || [...sources.values()].some((s) => s.status === 'connecting');
    if (waiting) return void (idleSince = undefined);
    const now = Date.now();
    idleSince ??= now;
    if (now - idleSince < opts.chunkTimeoutMs) return;
    const busy = live().filter((s) => s.busyUntil > now - opts.chunkTimeoutMs).length;
    const left = picker.remaining();
    finish({ outcome: 'exhausted', reason: busy > 0 ? `${busy} source(s) busy, ${left} chunks left` : `no source has the ${left} missing chunks` });
  };

  /** Stop everything, let the disk catch up, persist the bitfield, then settle. */
  const finish = (result: FetchOutcome | P2PError) => {
    if (finished) return;
    finished = true;
    clearInterval(ticker);
    opts.signal.removeEventListener('abort', onAbort);
    for (const s of sources.values()) s.conn?.close();
    void (async () => {
      await Promise.allSettled([...writes]);
      try {
        await partial.flush();
      } catch (err) {
        if (!(result instanceof P2PError)) result = toP2PError(err);
      }
      report(true);
      if (result instanceof P2PError) settle.reject(result);
      else settle.resolve(result);
    })();
  };

  const onAbort = () => finish(new CancelledError('download cancelled'));
  if (opts.signal.aborted) onAbort();
  else if (partial.isComplete()) finish({ outcome: 'complete' });
  else {
    opts.signal.addEventListener('abort', onAbort, { once: true });
    addSources(opts.sources);
    checkDone();
  }
  return { done, addSources, updateSource };
}

/** Failures that are a source's fault, not bad luck: it is dropped for good (banned). */
function isFault(err: P2PError): boolean {
  return err instanceof ProtocolError || err instanceof AuthFailedError || err.cause instanceof ProtocolError;
}

/** What a delta alone tells about a source we did not know: those chunks. */
function gainedOnly(change: HaveUpdate, count: number): SourceHave {
  if (change.kind !== 'gained') return change;
  const bits = new Uint8Array(bitfieldBytes(count));
  for (const [start, end] of change.ranges) for (let i = start; i < Math.min(end, count); i++) setBit(bits, i);
  return { kind: 'bits', bits };
}
