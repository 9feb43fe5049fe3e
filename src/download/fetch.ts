// Fetching a file for real: the ChunkScheduler built with the system clock, Math.random and TCP
// connections (src/transport/chunk-client.ts). Tests of the scheduler's rules build it with
// their own clock, randomness and fake connections instead (test/unit/scheduler.test.ts).
import { systemClock } from '../clock.js';
import type { Source } from '../protocol/messages.js';
import { PeerConnection } from '../transport/chunk-client.js';
import type { FetchHandle, FetchOptions, FetchOutcome, SchedulerComponents } from './fetch-options.js';
import { ChunkScheduler } from './scheduler.js';

export type { ChunkConnection, ChunkSink, FetchHandle, FetchOptions, FetchOutcome, FetchProgress, SchedulerComponents, SourceEventKind } from './fetch-options.js';
export { fetchManifest } from '../transport/manifest-fetch.js';

/** The real components: system clock, Math.random (or `opts.random`), TCP connections. */
export function realComponents(opts: FetchOptions): SchedulerComponents {
  return {
    clock: systemClock,
    random: opts.random ?? Math.random,
    connect: (source: Source) =>
      PeerConnection.connect(source.endpoint, {
        timeoutMs: opts.chunkTimeoutMs,
        minRateBps: opts.minRateBps,
        logger: opts.logger,
        maxChunkBytes: opts.manifest.chunkSize,
        throttle: opts.throttle,
        security: opts.security,
      }),
  };
}

/** Start fetching every missing chunk of `opts.partial` from `opts.sources` (and any added later). */
export function startFetch(opts: FetchOptions): FetchHandle {
  return new ChunkScheduler(realComponents(opts), opts).start();
}

/** Fetch every missing chunk; see ChunkScheduler for what the outcome means. */
export function fetchFile(opts: FetchOptions): Promise<FetchOutcome> {
  return startFetch(opts).done;
}
