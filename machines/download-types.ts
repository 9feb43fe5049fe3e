// The download machine's types: its input, context, events, the inputs and outputs of the
// actors the peer provides (lookup, prepare, fetchChunks, join), and its output. No code here.
import type { HaveUpdate } from '../src/download/picker.js';
import type { DownloadStatus, FileMeta, Source } from '../src/protocol/messages.js';

export type { DownloadStatus };

/** What the peer actor passes to `createActor(downloadMachine, { input })`. */
export interface DownloadInput {
  downloadId: string;
  /** A file name or a fileId, as the user typed it. */
  target: string;
  /** Consecutive retries without progress allowed before giving up (0: fail on the first). */
  maxRetries: number;
  /** First retry delay; it doubles on each consecutive retry. */
  retryBaseMs: number;
  /** Upper bound of the retry delay. */
  retryMaxMs: number;
  /** When the download was asked for (ms since the epoch; the machine reads no clock). */
  startedAt?: number;
}

/**
 * Result of the `lookup` actor. `localPath` set means this peer already holds the fileId
 * (smart filtering): the download finishes as `already-present` without fetching anything.
 */
export type LookupResult =
  | { kind: 'found'; file: FileMeta; sources: Source[]; localPath?: string }
  | { kind: 'missing' };

/** Input of the `lookup` actor; `attempt` is the number of consecutive retries so far. */
export interface LookupInput {
  target: string;
  attempt: number;
}

/** Input of the `prepare` actor: get the manifest (from disk or a source), check it, open the partial file. */
export interface PrepareInput {
  file: FileMeta;
  sources: Source[];
}

/**
 * Output of `prepare`: the opened partial file (`handle`, opaque to the machine, handed to
 * `fetchChunks` and `join` and given back to the `release` action) and what it already holds.
 */
export interface Prepared {
  handle: unknown;
  verifiedChunks: number;
  bytes: number;
  /** the file as its verified manifest says it is (replaces what the lookup's sources claimed) */
  file?: FileMeta;
  /** the sources whose claims match the manifest (the others are struck) */
  sources?: Source[];
  /** which sources were struck and why, for the trace (issue 9, class 1) */
  struck?: string;
}

/** Input of the `fetchChunks` actor: the file, the peers to fetch it from, the prepared partial file. */
export interface FetchInput {
  file: FileMeta;
  sources: Source[];
  prepared?: Prepared;
}

/** Input of the `join` actor, which assembles verified chunks into the final file. */
export interface JoinInput {
  file: FileMeta;
  prepared?: Prepared;
}

/** Output of the `join` actor: where the finished file now is. */
export interface JoinResult {
  path: string;
}

/** Counters the fetcher reports; `sources` is the number of sources in use. */
export interface FetchProgress {
  verifiedChunks: number;
  totalChunks: number;
  bytes: number;
  sources: number;
  rateBps: number;
}

/** Events the `fetchChunks` callback actor sends back to the machine with `sendBack`. */
export type FetchEvent =
  | ({ type: 'fetch.progress' } & FetchProgress)
  | { type: 'fetch.complete' }
  /** Every source failed or vanished; verified chunks are kept for the next attempt. */
  | { type: 'fetch.exhausted'; reason: string }
  /** Fatal (`isFatal`, e.g. DISK_FULL): the download fails without retrying. */
  | { type: 'fetch.failed'; code: string; message: string };

/**
 * New sources. Without `changes`: sources holding the whole file (they replace `sources`). With
 * `changes`: what `sources[i]` holds now is `changes[i]`, heard on the file's availability
 * subject (the session gathers a short window of messages into one event). Forwarded to the
 * running fetcher; a retrying download is woken by it (it looks up again at once).
 */
export interface SourcesUpdated {
  type: 'sources.updated';
  sources: Source[];
  changes?: HaveUpdate[];
}

/** Every event the machine accepts. */
export type DownloadEvent = FetchEvent | { type: 'cancel' } | SourcesUpdated;

/** The machine's context: the one state of a download (views come from `toDownloadInfo`). */
export interface DownloadContext {
  downloadId: string;
  target: string;
  maxRetries: number;
  retryBaseMs: number;
  retryMaxMs: number;
  startedAt: number;
  file?: FileMeta;
  sources: Source[];
  /** Sources the fetcher last reported in use (from `fetch.progress`). */
  sourcesActive: number;
  /** The partial file while preparing → fetching → joining; released on leaving them. */
  prepared?: Prepared;
  /** Consecutive retries without progress; reset to 0 when a chunk is verified. */
  attempts: number;
  /** Retries in total over the download's life. */
  retries: number;
  verifiedChunks: number;
  totalChunks: number;
  bytes: number;
  rateBps: number;
  path?: string;
  status: DownloadStatus;
  error?: { code: string; message: string };
  /** Sources struck by the last prepare (their claims did not match the manifest), for the trace. */
  struck?: string;
  /** Why the last attempt did not finish; quoted when giving up. */
  lastReason?: string;
}

/** The machine's output once it reaches `done`, `failed` or `cancelled`. */
export interface DownloadOutput {
  status: DownloadStatus;
  path?: string;
  error?: { code: string; message: string };
  file?: FileMeta;
}
