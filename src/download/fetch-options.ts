// What the chunk scheduler is given and what it gives back: its options (plain values and
// callbacks), the components it is built from (clock, random, connect), and the two narrow
// interfaces it drives, a chunk connection (transport) and a chunk sink (store).
import type { Clock } from '../clock.js';
import type { P2PError } from '../errors.js';
import type { Source } from '../protocol/messages.js';
import type { Manifest } from '../store/manifest.js';
import type { Logger } from 'winston';
import type { HaveUpdate } from './picker.js';
import type { FairThrottle } from '../transport/rate-limit.js';
import type { ClientSecurity } from '../transport/security.js';

/** What the fetcher reports: the download machine's `fetch.progress` payload (one definition). */
export type { FetchProgress } from '../../machines/download-types.js';
import type { FetchProgress } from '../../machines/download-types.js';

/** How one chunk request ended: `ok` (its copy was written), `lost` (another source's copy won first) or the error's code. */
export interface RequestEnd {
  index: number;
  from: string;
  /** the source had the whole file when asked */
  complete: boolean;
  /** ms from the ask to the end */
  tookMs: number;
  outcome: string;
}

export type SourceEventKind = 'connected' | 'strike' | 'dropped' | 'busy' | 'chunk';

/** One pipelined connection to a source (src/transport/chunk-client.ts's PeerConnection). */
export interface ChunkConnection {
  readonly closed: boolean;
  /** why it closed (a server closing an idle connection says TimeoutError) */
  readonly closeReason: P2PError | undefined;
  /** the chunk's bytes, already checked against `expectedHash` */
  getChunk(fileId: string, index: number, expectedLength: number, expectedHash: Buffer, signal?: AbortSignal): Promise<Buffer[]>;
  /** the buffers of a chunk it gave, written or not needed any more (pooled buffers go back) */
  release?(slices: Buffer[]): void;
  close(): void;
}

/** Where verified chunks go (src/store/partial.ts's PartialDownload). */
export interface ChunkSink {
  has(index: number): boolean;
  isComplete(): boolean;
  verifiedCount(): number;
  verifiedBytes(): number;
  writeChunk(index: number, slices: Buffer[]): Promise<void>;
  /** persist what is written (the bitfield) */
  flush(): Promise<void>;
}

/** The scheduler's components: nothing it reads from the world directly. */
export interface SchedulerComponents {
  clock: Clock;
  /** uniform in [0, 1) */
  random: () => number;
  /** open a connection to a source (rejects when it cannot be reached) */
  connect: (source: Source) => Promise<ChunkConnection>;
}

export interface FetchOptions {
  fileId: string;
  manifest: Manifest;
  /** sources that have the whole file (from the tracker) */
  sources: Source[];
  partial: ChunkSink;
  /** requests in flight per complete source (a partial one: see neighbourInFlightBytes) */
  pipeline: number;
  /** chunk bytes in flight per partial source (a neighbour still downloading), at least one chunk, at most `pipeline` (default NEIGHBOUR_INFLIGHT_BYTES, 2 MiB) */
  neighbourInFlightBytes?: number;
  /** in the last this % of the chunks (the tail), one chunk at a time from each such neighbour (default TAIL_PERCENT, 10; 0: never) */
  tailPercent?: number;
  /** once every chunk we still want is at a neighbour, chunks a complete source may be asked for at once (the tail's relief, rarest first; 0: never, the default: bench/README.md, "The tail's relief") */
  seederReliefChunks?: number;
  /** connect timeout; a request fails when its connection is silent this long */
  chunkTimeoutMs: number;
  /** floor rate of a whole answer (bytes/s; default chunk-client's DEFAULT_MIN_RATE_BPS): slower is a timeout */
  minRateBps?: number;
  maxStrikes: number;
  progressMs: number;
  logger: Logger;
  signal: AbortSignal;
  onProgress: (p: FetchProgress) => void;
  onSourceEvent?: (e: { peerId: string; kind: SourceEventKind; detail?: string }) => void;
  /** every chunk request as it ends (the peer's debug log: a per-request trace) */
  onRequestEnd?: (r: RequestEnd) => void;
  /** a chunk was verified and written (the peer tells the swarm) */
  onVerified?: (index: number) => void;
  /** verified chunks waiting for the disk before we stop asking for more (default max(8, 2 × pipeline), at most 2 MiB of them, at least 2) */
  maxPendingWrites?: number;
  /** the peer's download cap, shared by all its connections */
  throttle?: FairThrottle;
  /** swarm key and TLS for chunk connections */
  security?: ClientSecurity;
  /** a request out this long (at least) may be duplicated on an idle source (default 1000 ms) */
  endgameMinMs?: number;
  random?: () => number;
  /** our peer id: with neighbours downloading too, the seeder's chunks are shared out among us by it */
  selfId?: string;
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
