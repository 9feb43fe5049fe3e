// The manifest of a file from its sources: the first one that hashes to the fileId wins; sources
// that lie or fail are skipped.
import type { Logger } from 'winston';
import { CancelledError, NotFoundError, PeerUnreachableError, toP2PError } from '../errors.js';
import type { Source } from '../protocol/messages.js';
import type { Manifest } from '../store/manifest.js';
import { PeerConnection } from './chunk-client.js';
import type { ClientSecurity } from './security.js';
import { isLoopback } from './dial.js';

/**
 * The manifest of `fileId` from the first source that gives one hashing to that id. Sources
 * that lie or fail are skipped; NotFoundError (or PeerUnreachableError if none could be
 * reached) when none gives a valid one.
 */
export async function fetchManifest(
  sources: Source[],
  fileId: string,
  opts: { timeoutMs: number; logger: Logger; signal?: AbortSignal; security?: ClientSecurity },
): Promise<Manifest> {
  const failures: string[] = [];
  let reachedAny = false;
  for (const source of sources) {
    if (opts.signal?.aborted) throw new CancelledError('manifest fetch cancelled');
    let conn: PeerConnection | undefined;
    const onAbort = () => conn?.close();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      conn = await PeerConnection.connect(source.endpoint, { timeoutMs: opts.timeoutMs, logger: opts.logger, maxChunkBytes: 1, security: opts.security });
      reachedAny = true;
      return await conn.getManifest(fileId);
    } catch (err) {
      const e = toP2PError(err);
      opts.logger.warn('manifest fetch failed', { peerId: source.peerId, code: e.code, err: e.message });
      // a swarm-key or TLS refusal says what to fix, and so does a source that announced loopback: keep its words
      const keep = e.code === 'AUTH_FAILED' || (e.code === 'PEER_UNREACHABLE' && isLoopback(source.endpoint.host));
      failures.push(keep ? `${source.peerId}: ${e.message} [${e.code}]` : `${source.peerId}: ${e.code}`);
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
