// The manifest of a file from its sources: several are asked at once, the first answer that
// hashes to the fileId wins and the others are hung up on. A source that lies, fails, or answers
// too slowly (each request has a whole-answer deadline, see chunk-client.ts) is skipped, named to
// `onSourceFailed`, and the next one is asked: a trickling source never holds the download.
import type { Logger } from 'winston';
import { boundedList, CancelledError, NotFoundError, PeerUnreachableError, toP2PError, type P2PError } from '../errors.js';
import type { Source } from '../protocol/messages.js';
import type { Manifest } from '../store/manifest.js';
import { PeerConnection } from './chunk-client.js';
import type { ClientSecurity } from './security.js';
import { isLoopback } from './dial.js';

/** Sources asked at the same time (the next is asked as soon as one fails). */
export const MANIFEST_PARALLEL = 3;
/** Failures named in the error message at most (the rest are counted). */
const MAX_NAMED_FAILURES = 5;

export interface ManifestFetchOptions {
  timeoutMs: number;
  logger: Logger;
  signal?: AbortSignal;
  security?: ClientSecurity;
  /** sources asked at once (default MANIFEST_PARALLEL) */
  parallel?: number;
  /** the chunk count announced for the file: sizes each answer's deadline (untrusted, capped) */
  expectedChunks?: number;
  /** floor rate for each answer (bytes/s, see PeerConnectionOptions.minRateBps) */
  minRateBps?: number;
  /** a source that lied, failed or was too slow (struck: the caller may skip it for chunks) */
  onSourceFailed?: (source: Source, err: P2PError) => void;
}

/**
 * The manifest of `fileId` from the first source that gives one hashing to that id. Sources
 * that lie or fail are skipped; NotFoundError (or PeerUnreachableError if none could be
 * reached) when none gives a valid one.
 */
export function fetchManifest(sources: Source[], fileId: string, opts: ManifestFetchOptions): Promise<Manifest> {
  const queue = [...sources];
  const open = new Set<PeerConnection>();
  const failures: string[] = [];
  let reachedAny = false;
  let running = 0;
  let settled = false;
  const parallel = Math.max(1, opts.parallel ?? MANIFEST_PARALLEL);

  return new Promise<Manifest>((resolve, reject) => {
    const finish = (result: { manifest: Manifest } | { err: P2PError }) => {
      if (settled) return;
      settled = true;
      opts.signal?.removeEventListener('abort', onAbort);
      for (const c of open) c.close();
      open.clear();
      if ('manifest' in result) resolve(result.manifest);
      else reject(result.err);
    };
    const onAbort = () => finish({ err: new CancelledError('manifest fetch cancelled') });
    if (opts.signal?.aborted) return onAbort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });

    const failed = (source: Source, err: unknown) => {
      const e = toP2PError(err);
      opts.logger.warn('manifest fetch failed', { peerId: source.peerId, code: e.code, err: e.message });
      // a swarm-key or TLS refusal says what to fix, and so does a source that announced loopback: keep its words
      const keep = e.code === 'AUTH_FAILED' || (e.code === 'PEER_UNREACHABLE' && isLoopback(source.endpoint.host));
      failures.push(keep ? `${source.peerId}: ${e.message} [${e.code}]` : `${source.peerId}: ${e.code}`);
      opts.onSourceFailed?.(source, e);
    };
    const done = () => {
      running--;
      if (!settled) next();
    };
    const ask = async (source: Source) => {
      let conn: PeerConnection | undefined;
      try {
        const connOpts = { timeoutMs: opts.timeoutMs, logger: opts.logger, maxChunkBytes: 1, security: opts.security, minRateBps: opts.minRateBps };
        conn = await PeerConnection.connect(source.endpoint, connOpts);
        if (settled) return conn.close();
        open.add(conn);
        reachedAny = true;
        const manifest = await conn.getManifest(fileId, opts.expectedChunks);
        finish({ manifest });
      } catch (err) {
        if (!settled) failed(source, err);
      } finally {
        if (conn) {
          open.delete(conn);
          conn.close();
        }
        done();
      }
    };
    const next = () => {
      while (running < parallel && queue.length > 0) {
        running++;
        void ask(queue.shift()!);
      }
      if (running > 0) return;
      const summary = failures.length ? boundedList(failures, MAX_NAMED_FAILURES) : 'no sources';
      if (!reachedAny && sources.length > 0) finish({ err: new PeerUnreachableError(`no source reachable for the manifest (${summary})`) });
      else finish({ err: new NotFoundError(`no valid manifest for ${fileId.slice(0, 12)}… (${summary})`) });
    };
    next();
  });
}
