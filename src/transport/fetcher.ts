// The chunk scheduler: downloads the missing chunks of one file from every source at once
// (a shared queue, each connection pulls when it has a free slot), strikes and drops bad sources.
import type { Logger } from 'winston';
import { CancelledError, NotFoundError, P2PError, PeerUnreachableError, ProtocolError, toP2PError } from '../errors.js';
import type { Source } from '../protocol/messages.js';
import { chunkLength, type Manifest } from '../store/manifest.js';
import type { PartialDownload } from '../store/partial.js';
import { PeerConnection } from './chunk-client.js';

/** What the fetcher reports: the download machine's `fetch.progress` payload (one definition). */
export type { FetchProgress } from '../../machines/download.js';
import type { FetchProgress } from '../../machines/download.js';

export type SourceEventKind = 'connected' | 'strike' | 'dropped' | 'chunk';

export interface FetchOptions {
  fileId: string;
  manifest: Manifest;
  sources: Source[];
  partial: PartialDownload;
  /** requests in flight per source */
  pipeline: number;
  chunkTimeoutMs: number;
  maxStrikes: number;
  progressMs: number;
  logger: Logger;
  signal: AbortSignal;
  onProgress: (p: FetchProgress) => void;
  onSourceEvent?: (e: { peerId: string; kind: SourceEventKind; detail?: string }) => void;
  /** verified chunks waiting for the disk before we stop asking for more (default 2 × pipeline, ≥ 8) */
  maxPendingWrites?: number;
}

export type FetchOutcome = { outcome: 'complete' } | { outcome: 'exhausted'; reason: string };

/** A running fetch: its result, and a way to feed it sources discovered meanwhile. */
export interface FetchHandle {
  done: Promise<FetchOutcome>;
  /** New sources join the running fetch; peerIds already seen (live or dropped) are ignored. */
  addSources(sources: Source[]): void;
}

interface SourceState {
  source: Source;
  status: 'connecting' | 'live' | 'dropped';
  conn: PeerConnection | undefined;
  strikes: number;
  inFlight: number;
}

/**
 * Fetch every chunk `partial` is missing. Resolves `complete` (all verified and flushed) or
 * `exhausted` (every source dropped; verified chunks stay for a resume). Rejects with
 * CancelledError when `signal` aborts, DiskFullError/IoError when the disk fails.
 */
export function fetchFile(opts: FetchOptions): Promise<FetchOutcome> {
  return startFetch(opts).done;
}

export function startFetch(opts: FetchOptions): FetchHandle {
  const { manifest, partial, fileId, logger: log } = opts;
  const pipeline = Math.max(1, opts.pipeline);
  const maxPendingWrites = opts.maxPendingWrites ?? Math.max(8, pipeline * 2);
  const sources = new Map<string, SourceState>();
  const writes = new Set<Promise<void>>();
  // failed chunks come first, each with the sources that failed it; then the rest in order,
  // starting at a random point so downloaders of one file spread over it
  const retry: number[] = [];
  const failedBy = new Map<number, Set<string>>();
  const missing = partial.missing();
  const start = Math.floor(Math.random() * missing.length);
  const order = [...missing.slice(start), ...missing.slice(0, start)];
  let cursor = 0;
  let finished = false;
  let lastReason = 'no sources';
  const startedAt = Date.now();
  const startBytes = partial.verifiedBytes();
  let mark = { at: startedAt, bytes: startBytes };
  let settle!: { resolve: (o: FetchOutcome) => void; reject: (e: P2PError) => void };
  const done = new Promise<FetchOutcome>((resolve, reject) => (settle = { resolve, reject }));

  const event = (peerId: string, kind: SourceEventKind, detail?: string) => opts.onSourceEvent?.({ peerId, kind, detail });
  const liveIds = () => [...sources.values()].filter((s) => s.status === 'live').map((s) => s.source.peerId);

  const progress = (final: boolean): FetchProgress => {
    const now = Date.now();
    const bytes = partial.verifiedBytes();
    const since = final ? { at: startedAt, bytes: startBytes } : mark;
    const rateBps = now > since.at ? Math.round(((bytes - since.bytes) * 1000) / (now - since.at)) : 0;
    mark = { at: now, bytes };
    return { verifiedChunks: partial.verifiedCount(), totalChunks: manifest.hashes.length, bytes, sources: liveIds().length, rateBps };
  };
  const report = (final: boolean) => {
    try {
      opts.onProgress(progress(final));
    } catch (err) {
      log.error('progress listener failed', { err: (err as Error).message });
    }
  };
  const ticker = setInterval(() => report(false), opts.progressMs);
  ticker.unref();

  /** The next chunk for `peerId`: not one it failed, unless every live source failed it. */
  const take = (peerId: string): number | undefined => {
    for (let i = 0; i < retry.length; i++) {
      const index = retry[i]!;
      const failed = failedBy.get(index);
      if (!failed?.has(peerId) || liveIds().every((id) => failed.has(id))) {
        retry.splice(i, 1);
        return index;
      }
    }
    return cursor < order.length ? order[cursor++] : undefined;
  };

  const fill = () => {
    if (finished) return;
    for (const s of sources.values()) {
      while (s.status === 'live' && s.inFlight < pipeline && writes.size < maxPendingWrites) {
        const index = take(s.source.peerId);
        if (index === undefined) break;
        request(s, index);
      }
    }
    checkDone();
  };

  const request = (s: SourceState, index: number) => {
    s.inFlight++;
    const length = chunkLength(manifest.size, manifest.chunkSize, index);
    s.conn!.getChunk(fileId, index, length, manifest.hashes[index]!).then(
      (slices) => {
        s.inFlight--;
        if (finished) return;
        event(s.source.peerId, 'chunk', String(index));
        const write = partial.writeChunk(index, slices).then(
          () => {
            writes.delete(write);
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
        s.inFlight--;
        failed(s, index, toP2PError(err));
      },
    );
  };

  const failed = (s: SourceState, index: number, err: P2PError) => {
    if (finished) return;
    let by = failedBy.get(index);
    if (!by) failedBy.set(index, (by = new Set()));
    by.add(s.source.peerId);
    retry.push(index);
    if (s.status === 'live') {
      if (s.conn!.closed || err instanceof PeerUnreachableError || err instanceof ProtocolError) {
        drop(s, `${err.code}: ${err.message}`);
      } else {
        s.strikes++;
        log.warn('chunk failed', { peerId: s.source.peerId, index, code: err.code, strikes: s.strikes });
        event(s.source.peerId, 'strike', err.code);
        if (s.strikes >= Math.max(1, opts.maxStrikes)) drop(s, `${s.strikes} strikes, last ${err.code}`);
      }
    }
    fill();
  };

  const drop = (s: SourceState, reason: string) => {
    if (s.status === 'dropped') return;
    s.status = 'dropped';
    lastReason = `last source ${s.source.peerId} dropped: ${reason}`;
    log.warn('source dropped', { peerId: s.source.peerId, reason });
    event(s.source.peerId, 'dropped', reason);
    s.conn?.close(); // its outstanding requests fail and go back to the queue
  };

  const connect = (s: SourceState) => {
    const { endpoint, peerId } = s.source;
    PeerConnection.connect(endpoint, { timeoutMs: opts.chunkTimeoutMs, logger: log, maxChunkBytes: manifest.chunkSize }).then(
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
        drop(s, `${e.code}: ${e.message}`);
        fill();
      },
    );
  };

  const addSources = (list: Source[]) => {
    for (const source of list) {
      if (finished || sources.has(source.peerId)) continue;
      const s: SourceState = { source, status: 'connecting', conn: undefined, strikes: 0, inFlight: 0 };
      sources.set(source.peerId, s);
      connect(s);
    }
  };

  const checkDone = () => {
    if (finished || writes.size > 0) return;
    if (partial.isComplete()) return void finish({ outcome: 'complete' });
    if (![...sources.values()].some((s) => s.status !== 'dropped')) finish({ outcome: 'exhausted', reason: lastReason });
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
  return { done, addSources };
}

/**
 * The manifest of `fileId` from the first source that gives one hashing to that id. Sources
 * that lie or fail are skipped; NotFoundError (or PeerUnreachableError if none could be
 * reached) when none gives a valid one.
 */
export async function fetchManifest(
  sources: Source[],
  fileId: string,
  opts: { timeoutMs: number; logger: Logger; signal?: AbortSignal },
): Promise<Manifest> {
  const failures: string[] = [];
  let reachedAny = false;
  for (const source of sources) {
    if (opts.signal?.aborted) throw new CancelledError('manifest fetch cancelled');
    let conn: PeerConnection | undefined;
    const onAbort = () => conn?.close();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      conn = await PeerConnection.connect(source.endpoint, { timeoutMs: opts.timeoutMs, logger: opts.logger, maxChunkBytes: 1 });
      reachedAny = true;
      return await conn.getManifest(fileId);
    } catch (err) {
      const e = toP2PError(err);
      opts.logger.warn('manifest fetch failed', { peerId: source.peerId, code: e.code, err: e.message });
      failures.push(`${source.peerId}: ${e.code}`);
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
      conn?.close();
    }
  }
  if (opts.signal?.aborted) throw new CancelledError('manifest fetch cancelled');
  const summary = failures.length ? failures.join(', ') : 'no sources';
  if (!reachedAny && sources.length > 0) throw new PeerUnreachableError(`no source reachable for the manifest (${summary})`);
  throw new NotFoundError(`no valid manifest for ${fileId.slice(0, 12)}… (${summary})`);
}
