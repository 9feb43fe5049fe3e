// One download as a pure XState v5 machine: lookup → fetching → joining → done, with retries,
// backoff, cancel and give-up. No I/O here: the owning peer actor `.provide()`s the actors.
import { assign, fromCallback, fromPromise, sendTo, setup } from 'xstate';
import { ErrorCodes } from '../src/errors.js';
import type { FileMeta, Source } from '../src/protocol/messages.js';

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

/** Input of the `fetchChunks` actor: the file and the peers to fetch it from. */
export interface FetchInput {
  file: FileMeta;
  sources: Source[];
}

/** Input of the `join` actor, which assembles verified chunks into the final file. */
export interface JoinInput {
  file: FileMeta;
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
  /** Fatal (e.g. DISK_FULL): the download fails without retrying. */
  | { type: 'fetch.failed'; code: string; message: string };

/**
 * Every event the machine accepts. `sources.updated` received while fetching is also forwarded
 * to the `fetchChunks` actor (it may listen with `receive`).
 */
export type DownloadEvent = FetchEvent | { type: 'cancel' } | { type: 'sources.updated'; sources: Source[] };

/** Same values as the wire's `DownloadStatus`. */
export type DownloadStatus = 'running' | 'done' | 'already-present' | 'failed' | 'cancelled';

/** The machine's context; the peer actor reads it for progress, status and traces. */
export interface DownloadContext {
  downloadId: string;
  target: string;
  maxRetries: number;
  retryBaseMs: number;
  retryMaxMs: number;
  file?: FileMeta;
  sources: Source[];
  /** Sources the fetcher last reported in use (from `fetch.progress`). */
  sourcesActive: number;
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

/** Exponential backoff: `baseMs * 2^(attempts-1)`, capped at `maxMs` (attempts below 1 count as 1). */
export function retryDelayMs(attempts: number, baseMs: number, maxMs: number): number {
  const exponent = Math.max(0, attempts - 1);
  return Math.min(maxMs, baseMs * 2 ** exponent);
}

/** Message of anything thrown. */
function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Stable code of anything thrown: our own codes pass through, node's ENOSPC becomes DISK_FULL,
 * anything else gets `fallback` (so users' scripts only ever see codes from src/errors.ts).
 */
function codeOf(err: unknown, fallback: string): string {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  if (typeof code !== 'string') return fallback;
  if ((ErrorCodes as readonly string[]).includes(code)) return code;
  return code === 'ENOSPC' ? 'DISK_FULL' : fallback;
}

function notProvided(name: string): Error {
  return new Error(`download machine: actor "${name}" not provided`);
}

/** The download machine. Provide `lookup`, `fetchChunks` and `join` before creating an actor. */
export const downloadMachine = setup({
  types: {
    context: {} as DownloadContext,
    events: {} as DownloadEvent,
    input: {} as DownloadInput,
    output: {} as DownloadOutput,
  },
  actors: {
    lookup: fromPromise<LookupResult, LookupInput>(async () => {
      throw notProvided('lookup');
    }),
    fetchChunks: fromCallback<DownloadEvent, FetchInput>(() => {
      throw notProvided('fetchChunks');
    }),
    join: fromPromise<JoinResult, JoinInput>(async () => {
      throw notProvided('join');
    }),
  },
  guards: {
    /** The peer already holds this file. */
    alreadyPresent: (_, params: { result: LookupResult }) =>
      params.result.kind === 'found' && params.result.localPath !== undefined,
    /** The tracker knows the file and at least one peer to fetch it from. */
    hasSources: (_, params: { result: LookupResult }) =>
      params.result.kind === 'found' && params.result.sources.length > 0,
    /** More consecutive retries than allowed. */
    retriesExhausted: ({ context }) => context.attempts > context.maxRetries,
  },
  delays: {
    retryDelay: ({ context }) => retryDelayMs(context.attempts, context.retryBaseMs, context.retryMaxMs),
  },
  actions: {
    /** Keep what the lookup found; a different file than last time starts the counts over. */
    storeLookup: assign(({ context }, params: { result: LookupResult }) => {
      const { result } = params;
      if (result.kind !== 'found') return {};
      const sameFile = context.file?.fileId === result.file.fileId;
      // Already on disk: report it complete rather than 0 of N.
      if (result.localPath !== undefined) {
        return {
          file: result.file,
          totalChunks: result.file.chunkCount,
          verifiedChunks: result.file.chunkCount,
          bytes: result.file.size,
        };
      }
      return {
        file: result.file,
        sources: result.sources,
        sourcesActive: result.sources.length,
        totalChunks: result.file.chunkCount,
        verifiedChunks: sameFile ? context.verifiedChunks : 0,
        bytes: sameFile ? context.bytes : 0,
      };
    }),
    noteReason: assign((_, params: { reason: string }) => ({ lastReason: params.reason })),
    countRetry: assign(({ context }) => ({ attempts: context.attempts + 1, retries: context.retries + 1 })),
    /** Progress proves the swarm works, so a newly verified chunk resets the retry count. */
    recordProgress: assign(({ context }, params: FetchProgress) => ({
      verifiedChunks: params.verifiedChunks,
      totalChunks: params.totalChunks,
      bytes: params.bytes,
      sourcesActive: params.sources,
      rateBps: params.rateBps,
      attempts: params.verifiedChunks > context.verifiedChunks ? 0 : context.attempts,
    })),
    recordSources: assign((_, params: { sources: Source[] }) => ({ sources: params.sources })),
    forwardSources: sendTo('fetchChunks', (_, params: { sources: Source[] }) => ({
      type: 'sources.updated' as const,
      sources: params.sources,
    })),
    finish: assign((_, params: { status: DownloadStatus; path: string }) => ({
      status: params.status,
      path: params.path,
    })),
    setError: assign((_, params: { code: string; message: string }) => ({
      error: { code: params.code, message: params.message },
    })),
    giveUp: assign(({ context }) => ({
      error: {
        code: 'RETRIES_EXHAUSTED',
        message: `gave up after ${context.attempts - 1} retries: ${context.lastReason ?? 'unknown reason'}`,
      },
    })),
  },
}).createMachine({
  id: 'download',
  context: ({ input }) => ({
    downloadId: input.downloadId,
    target: input.target,
    maxRetries: input.maxRetries,
    retryBaseMs: input.retryBaseMs,
    retryMaxMs: input.retryMaxMs,
    sources: [],
    sourcesActive: 0,
    attempts: 0,
    retries: 0,
    verifiedChunks: 0,
    totalChunks: 0,
    bytes: 0,
    rateBps: 0,
    status: 'running',
  }),
  initial: 'lookup',
  // Final states stop the machine, so this only applies while it runs.
  on: { cancel: { target: '.cancelled' } },
  states: {
    lookup: {
      invoke: {
        id: 'lookup',
        src: 'lookup',
        input: ({ context }) => ({ target: context.target, attempt: context.attempts }),
        onDone: [
          {
            guard: { type: 'alreadyPresent', params: ({ event }) => ({ result: event.output }) },
            target: 'done',
            actions: [
              { type: 'storeLookup', params: ({ event }) => ({ result: event.output }) },
              {
                type: 'finish',
                params: ({ event }) => ({
                  status: 'already-present' as const,
                  path: event.output.kind === 'found' ? (event.output.localPath ?? '') : '',
                }),
              },
            ],
          },
          {
            guard: { type: 'hasSources', params: ({ event }) => ({ result: event.output }) },
            target: 'fetching',
            actions: { type: 'storeLookup', params: ({ event }) => ({ result: event.output }) },
          },
          {
            target: 'retrying',
            actions: [
              { type: 'storeLookup', params: ({ event }) => ({ result: event.output }) },
              {
                type: 'noteReason',
                params: ({ event }) => ({ reason: event.output.kind === 'missing' ? 'not found' : 'no sources' }),
              },
            ],
          },
        ],
        onError: {
          target: 'retrying',
          actions: { type: 'noteReason', params: ({ event }) => ({ reason: messageOf(event.error) }) },
        },
      },
    },
    fetching: {
      invoke: {
        id: 'fetchChunks',
        src: 'fetchChunks',
        // `file` is always set on the way in (hasSources guard).
        input: ({ context }) => ({ file: context.file!, sources: context.sources }),
        // The fetcher itself threw (a bug or a missing provide): fatal, not retried.
        onError: {
          target: 'failed',
          actions: {
            type: 'setError',
            params: ({ event }) => ({ code: codeOf(event.error, 'INTERNAL'), message: messageOf(event.error) }),
          },
        },
      },
      on: {
        'fetch.progress': {
          actions: {
            type: 'recordProgress',
            params: ({ event }) => ({
              verifiedChunks: event.verifiedChunks,
              totalChunks: event.totalChunks,
              bytes: event.bytes,
              sources: event.sources,
              rateBps: event.rateBps,
            }),
          },
        },
        'fetch.complete': { target: 'joining' },
        'fetch.exhausted': {
          target: 'retrying',
          actions: { type: 'noteReason', params: ({ event }) => ({ reason: event.reason }) },
        },
        'fetch.failed': {
          target: 'failed',
          actions: { type: 'setError', params: ({ event }) => ({ code: event.code, message: event.message }) },
        },
        'sources.updated': {
          actions: [
            { type: 'recordSources', params: ({ event }) => ({ sources: event.sources }) },
            { type: 'forwardSources', params: ({ event }) => ({ sources: event.sources }) },
          ],
        },
      },
    },
    retrying: {
      entry: ['countRetry', assign({ rateBps: 0 })],
      // Entry actions run before eventless transitions, so the guard sees the new count.
      always: { guard: 'retriesExhausted', target: 'failed', actions: 'giveUp' },
      after: { retryDelay: { target: 'lookup' } },
      on: {
        'sources.updated': {
          actions: { type: 'recordSources', params: ({ event }) => ({ sources: event.sources }) },
        },
      },
    },
    joining: {
      invoke: {
        id: 'join',
        src: 'join',
        input: ({ context }) => ({ file: context.file! }),
        onDone: {
          target: 'done',
          actions: { type: 'finish', params: ({ event }) => ({ status: 'done' as const, path: event.output.path }) },
        },
        onError: {
          target: 'failed',
          actions: {
            type: 'setError',
            params: ({ event }) => ({ code: codeOf(event.error, 'IO_ERROR'), message: messageOf(event.error) }),
          },
        },
      },
    },
    // `finish` set status and path on the way in (done or already-present).
    done: { type: 'final', entry: assign({ rateBps: 0 }) },
    failed: { type: 'final', entry: assign({ status: 'failed', rateBps: 0 }) },
    cancelled: {
      type: 'final',
      entry: assign({ status: 'cancelled', rateBps: 0, error: { code: 'CANCELLED', message: 'cancelled by user' } }),
    },
  },
  output: ({ context }) => ({
    status: context.status,
    path: context.path,
    error: context.error,
    file: context.file,
  }),
});
