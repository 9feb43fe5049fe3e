// One source as the scheduler sees it (connection, strikes, BUSY backoff, misses, drops) and the
// pure rules about it: whose fault a failed request was, how long to back off, when a dropped
// source may come back. The scheduler applies the verdicts; these functions decide them.
import { AuthFailedError, BusyError, CancelledError, NotFoundError, PeerUnreachableError, ProtocolError, TimeoutError, type P2PError } from '../errors.js';
import { bitfieldBytes, setBit } from '../protocol/bitfield.js';
import type { Source } from '../protocol/messages.js';
import type { ChunkConnection } from './fetch-options.js';
import type { HaveUpdate, SourceHave } from './picker.js';

/** NOT_FOUND answers a partial source may give in a row before the next one is a strike. */
export const MAX_MISSES = 32;
/** Connections to one source closed in a row without a chunk before it is dropped. */
export const MAX_RECONNECTS = 3;
/**
 * Chunk bytes asked of one partial source (a neighbour still downloading) at once, by default.
 * A neighbour's uplink is shared by everyone downloading from it: requests queued there behind
 * others wait seconds, and a chunk asked of it cannot be taken from another neighbour that gets
 * it meanwhile. With few asked at a time, the rest stay in the pool for whoever has them first
 * (bench/README.md, "Two chunks at a time from a neighbour": lan-swarm 35.0 → 31.3 s median).
 */
export const NEIGHBOUR_INFLIGHT_BYTES = 2 * 1024 * 1024;

/**
 * The tail: once no more than this % of a download's chunks are left, a neighbour still
 * downloading is asked for one chunk at a time, whatever neighbourInFlightBytes allows. The last
 * chunks out of the seeder sit at their first holders, each asked by every other downloader at
 * once: with one request each, a holder's uplink finishes each copy sooner, and whoever got it
 * passes it on (bench/README.md, "One chunk at a time in the tail": the 50 Mbit/s jumbo lab
 * faster, the CPU-bound lab unchanged, where one chunk all along was slower).
 */
export const TAIL_PERCENT = 10;

/** Is a download with `left` of its `count` chunks still to come in its tail (the last `percent` % of them)? */
export function inTail(left: number, count: number, percent = TAIL_PERCENT): boolean {
  return left * 100 <= count * percent;
}

/**
 * Requests in flight to one source: `pipeline` for a complete source; for a partial one as many
 * chunks as fit in `neighbourBytes`, at least 1, at most `pipeline`, and 1 in the tail.
 */
export function requestDepth(complete: boolean, pipeline: number, chunkSize: number, neighbourBytes = NEIGHBOUR_INFLIGHT_BYTES, tail = false): number {
  if (complete) return pipeline;
  return tail ? 1 : Math.max(1, Math.min(pipeline, Math.floor(neighbourBytes / chunkSize)));
}

export interface SourceState {
  source: Source;
  status: 'connecting' | 'live' | 'dropped';
  conn: ChunkConnection | undefined;
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

export function newSourceState(source: Source): SourceState {
  return { source, status: 'connecting', conn: undefined, strikes: 0, requests: new Map(), busyUntil: 0, busyCount: 0, misses: 0, banned: false, reconnects: 0, drops: 0, rejoinAt: 0 };
}

/**
 * What a failed request means for its source:
 * - `release`: not its fault (cancelled, or it is not live any more): the chunk goes back to the pool;
 * - `reconnect`: the server closed our idle connection just as we asked: ask again on a new one;
 * - `refused`: it refused the whole connection (at its caps): drop it for now, not banned;
 * - `busy`: no upload slot for us now: back off;
 * - `miss`: a partial source without that chunk after all: forget it has it, no blame;
 * - `fault`: its fault (bad answer, timeout, unreachable, too many misses): a strike or a drop.
 */
export type Verdict = 'release' | 'reconnect' | 'refused' | 'busy' | 'miss' | 'fault';

/** Judge a failed request of source `s` (`complete`: the source has the whole file). Counts a miss. */
export function judgeFailure(s: SourceState, err: P2PError, complete: boolean): Verdict {
  if (err instanceof CancelledError || s.status !== 'live') return 'release';
  if (s.conn?.closeReason instanceof TimeoutError) return 'reconnect';
  if (err instanceof BusyError) return s.conn?.closed ? 'refused' : 'busy';
  if (err instanceof NotFoundError && !complete && ++s.misses < MAX_MISSES) return 'miss';
  return 'fault';
}

/** A fault drops the source at once (rather than a strike) when its connection is gone or the answer was garbage. */
export function dropsAtOnce(s: SourceState, err: P2PError): boolean {
  return s.conn?.closed === true || err instanceof PeerUnreachableError || err instanceof ProtocolError;
}

/** Failures that are a source's fault, not bad luck: it is dropped for good (banned). */
export function isFault(err: P2PError): boolean {
  return err instanceof ProtocolError || err instanceof AuthFailedError || err.cause instanceof ProtocolError;
}

/** Wait after the nth BUSY in a row: 250 ms × 1.5^(n-1), at most 3 s, ±25 % jitter (`random` in [0, 1)). */
export function busyBackoffMs(busyCount: number, random: number): number {
  return Math.min(3000, 250 * 1.5 ** Math.min(8, busyCount - 1)) * (0.75 + 0.5 * random);
}

/** A dropped source may come back after 2 s, doubling per drop, at most 30 s. */
export function rejoinDelayMs(drops: number): number {
  return Math.min(30_000, 2000 * 2 ** (drops - 1));
}

/** Bytes of verified chunks that may wait for the disk (each is a pooled buffer held until written). */
export const PENDING_WRITE_BYTES = 2 * 1024 * 1024;

/** Verified chunks waiting for the disk before we stop asking: max(8, 2 × pipeline), at most 2 MiB of them, at least 2. */
export function pendingWritesFor(pipeline: number, chunkSize: number): number {
  // bounded in bytes too: with big chunks (big files) fewer wait, so memory stays flat (peer-rss);
  // the disk takes them from the page cache far faster than they come, so a few suffice. When it
  // stalls (dirty-page writeback), the answers already asked for still arrive and wait too: up to
  // pipeline + this many chunk buffers per source (6 + 2 MiB with 1 MiB chunks; 4 MiB here before
  // was 10 MiB at the peak, 2 MB of peer-rss, with no change in download-1to1)
  return Math.max(2, Math.min(Math.max(8, pipeline * 2), Math.floor(PENDING_WRITE_BYTES / chunkSize)));
}

/** What a delta alone tells about a source we did not know: those chunks. */
export function gainedOnly(change: HaveUpdate, count: number): SourceHave {
  if (change.kind !== 'gained') return change;
  const bits = new Uint8Array(bitfieldBytes(count));
  for (const [start, end] of change.ranges) for (let i = start; i < Math.min(end, count); i++) setBit(bits, i);
  return { kind: 'bits', bits };
}
