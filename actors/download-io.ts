// The real I/O a download machine runs with, one function per invoked actor: `prepare` (lock the
// file, get and check the manifest, open the partial file), `fetchChunks` (the chunk scheduler
// over TCP, serving our verified chunks to others meanwhile), `join` (the final file, now
// served) and `release` (close the partial file, unlock). The machine decides; these act.
import type { Logger } from 'winston';
import { fromCallback, fromPromise } from 'xstate';
import type { Config } from '../config/index.js';
import type { DownloadEvent, FetchInput, JoinInput, JoinResult, PrepareInput, Prepared } from '../machines/download.js';
import { CancelledError, ManifestMismatchError, isFatal, toP2PError } from '../src/errors.js';
import { fetchManifest, startFetch } from '../src/download/fetch.js';
import { checkClaims, describeStruck, largestClaimedChunks } from '../src/download/claims.js';
import type { FileMeta, Source } from '../src/protocol/messages.js';
import type { Manifest } from '../src/store/manifest.js';
import { PartialDownload } from '../src/store/partial.js';
import type { FairThrottle } from '../src/transport/rate-limit.js';
import type { ClientSecurity } from '../src/transport/security.js';
import type { SwarmAvailability } from './availability.js';

/** What a download's I/O needs from its peer. */
export interface DownloadIoDeps {
  config: Config['download'];
  chunksDir: string;
  downloadsDir: string;
  /** serves our partial download to others, announces its chunks, asks who has the file */
  availability: SwarmAvailability;
  /** the peer's download cap (undefined: unlimited) */
  downloadCap?: FairThrottle;
  /** swarm key and TLS for the chunk connections we open */
  security?: ClientSecurity;
  /** a finished download becomes a served file */
  onJoined: (path: string, manifest: Manifest, file: FileMeta) => Promise<void>;
  /** wait while another download of this peer holds the same fileId */
  acquireFile: (fileId: string) => Promise<() => void>;
}

/** The opened partial file behind `Prepared.handle`. */
interface Work {
  partial: PartialDownload;
  manifest: Manifest;
  unlock: () => void;
  /** peer ids whose claims did not match the manifest: never used for chunks */
  struck: Set<string>;
  /** the running (or last) fetch, settled once its writes are flushed */
  fetching?: Promise<void>;
  released: boolean;
}

const workOf = (prepared: Prepared | undefined): Work | undefined => prepared?.handle as Work | undefined;

/** Close the partial file (after its fetch has flushed) and let go of the fileId. Idempotent. */
export async function releasePrepared(prepared: Prepared | undefined): Promise<void> {
  const work = workOf(prepared);
  if (!work || work.released) return;
  work.released = true;
  await work.fetching?.catch(() => undefined);
  await work.partial.close().catch(() => undefined);
  work.unlock();
}

/** The actors and the `release` action to `.provide()` to the download machine. */
export function downloadIo(deps: DownloadIoDeps, log: Logger) {
  const { config } = deps;

  const prepare = async ({ file, sources }: PrepareInput, signal: AbortSignal): Promise<Prepared> => {
    const unlock = await deps.acquireFile(file.fileId);
    try {
      if (signal.aborted) throw new CancelledError('download cancelled');
      const manifest =
        (await PartialDownload.loadManifest(deps.chunksDir, file.fileId)) ??
        (await fetchManifest(sources, file.fileId, { timeoutMs: config.chunkTimeoutMs, expectedChunks: largestClaimedChunks(file, sources), logger: log, signal, security: deps.security }));
      // the manifest (it hashes to the fileId) says what the file is; sources claiming otherwise are struck
      const checked = checkClaims(manifest, file, sources);
      if (checked.struck.length > 0) log.warn('sources struck', { struck: checked.struck.slice(0, 20), count: checked.struck.length });
      if (checked.kept.length === 0 && sources.length > 0) throw new ManifestMismatchError(describeStruck(checked.struck));
      const partial = await PartialDownload.open({ chunksDir: deps.chunksDir, fileId: file.fileId, manifest, name: checked.file.name, syncEveryBytes: config.syncEveryBytes });
      if (signal.aborted) {
        await partial.close().catch(() => undefined);
        throw new CancelledError('download cancelled');
      }
      if (partial.resumeCheck.claimed > 0) {
        log.info('resuming from verified chunks', { claimed: partial.resumeCheck.claimed, kept: partial.resumeCheck.kept, total: file.chunkCount });
      }
      const work: Work = { partial, manifest, unlock, released: false, struck: new Set(checked.struck.map((x) => x.peerId)) };
      return {
        handle: work,
        verifiedChunks: partial.verifiedCount(),
        bytes: partial.verifiedBytes(),
        file: checked.file,
        sources: checked.kept,
        ...(checked.struck.length > 0 ? { struck: describeStruck(checked.struck) } : {}),
      };
    } catch (err) {
      unlock();
      throw err;
    }
  };

  const fetchChunks = (input: FetchInput, sendBack: (e: DownloadEvent) => void, receive: (listener: (e: DownloadEvent) => void) => void): (() => void) => {
    const work = workOf(input.prepared);
    if (!work) throw new ManifestMismatchError('nothing prepared to fetch into');
    const { file } = input;
    const abort = new AbortController();
    // others may fetch our verified chunks while we download (partial seeding)
    const shared = deps.availability.share(work.partial);
    const usable = (sources: readonly Source[]) => sources.filter((x) => !work.struck.has(x.peerId));
    const fetch = startFetch({
      fileId: file.fileId,
      manifest: work.manifest,
      sources: usable(input.sources),
      partial: work.partial,
      pipeline: config.pipeline,
      neighbourInFlightBytes: config.neighbourInFlightBytes,
      tailPercent: config.tailPercent,
      seederReliefChunks: config.seederReliefChunks,
      chunkTimeoutMs: config.chunkTimeoutMs,
      maxStrikes: config.maxStrikes,
      progressMs: config.progressMs,
      logger: log,
      signal: abort.signal,
      onProgress: (p) => sendBack({ type: 'fetch.progress', ...p }),
      onSourceEvent: (e) => {
        if (e.kind !== 'chunk') log.info(`source ${e.kind}`, { from: e.peerId, ...(e.detail ? { detail: e.detail } : {}) });
      },
      // a per-request trace at debug level (the LAN lab's BENCH_LAN_TRACE reads it): one line per request
      onRequestEnd: log.isDebugEnabled() ? (r) => log.debug('chunk request', { ...r }) : undefined,
      onVerified: (index) => shared.gained(index),
      throttle: deps.downloadCap,
      security: deps.security,
      selfId: deps.availability.peerId,
    });
    // sources reach the fetcher through the machine (sources.updated, forwarded here)
    receive((e) => {
      if (e.type !== 'sources.updated') return;
      if (!e.changes) return fetch.addSources(usable(e.sources));
      e.sources.forEach((source, i) => {
        if (!work.struck.has(source.peerId)) fetch.updateSource(source, e.changes![i]!);
      });
    });
    // peers holding or downloading the file answer with what they have (heard by the session's watch)
    deps.availability.query(file.fileId);
    work.fetching = fetch.done.then(
      (outcome) => {
        shared.close();
        if (abort.signal.aborted) return;
        sendBack(outcome.outcome === 'complete' ? { type: 'fetch.complete' } : { type: 'fetch.exhausted', reason: outcome.reason });
      },
      (err: unknown) => {
        shared.close();
        if (abort.signal.aborted) return;
        const e = toP2PError(err);
        sendBack(isFatal(e) ? { type: 'fetch.failed', code: e.code, message: e.message } : { type: 'fetch.exhausted', reason: e.message });
      },
    );
    return () => abort.abort();
  };

  const join = async ({ file, prepared }: JoinInput): Promise<JoinResult> => {
    const work = workOf(prepared);
    if (!work) throw new ManifestMismatchError('nothing prepared to join');
    await work.fetching;
    const path = await work.partial.join(deps.downloadsDir);
    await deps.onJoined(path, work.manifest, file);
    return { path };
  };

  return {
    actors: {
      prepare: fromPromise<Prepared, PrepareInput>(({ input, signal }) => prepare(input, signal)),
      fetchChunks: fromCallback<DownloadEvent, FetchInput>(({ input, sendBack, receive }) => fetchChunks(input, sendBack, receive)),
      join: fromPromise<JoinResult, JoinInput>(({ input }) => join(input)),
    },
    release: (prepared: Prepared | undefined) => void releasePrepared(prepared),
  };
}
