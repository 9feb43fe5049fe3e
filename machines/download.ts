// One download as a pure XState v5 machine, governing its whole life: lookup → preparing (the
// manifest fetched and checked, the partial file opened) → fetching → joining → done, with
// retrying (backoff, or woken by a source appearing), cancel and give-up. No I/O here: the peer's
// DownloadSession `.provide()`s the actors (lookup, prepare, fetchChunks, join) and `release`.
// Types live in download-types.ts; views (status, progress, trace) in download-info.ts.
import { assign, fromCallback, fromPromise, sendTo, setup } from 'xstate';
import { boundedMessage, errorInfoOf as errorOf, isFatal } from '../src/errors.js';
import type {
  DownloadContext,
  DownloadEvent,
  DownloadInput,
  DownloadOutput,
  DownloadStatus,
  FetchInput,
  FetchProgress,
  JoinInput,
  JoinResult,
  LookupInput,
  LookupResult,
  PrepareInput,
  Prepared,
  SourcesUpdated,
} from './download-types.js';

export type * from './download-types.js';

/** Exponential backoff: `baseMs * 2^(attempts-1)`, capped at `maxMs` (attempts below 1 count as 1). */
export function retryDelayMs(attempts: number, baseMs: number, maxMs: number): number {
  const exponent = Math.max(0, attempts - 1);
  return Math.min(maxMs, baseMs * 2 ** exponent);
}

/** Message of anything thrown. */
const messageOf = (err: unknown): string => boundedMessage(err instanceof Error ? err.message : String(err));

/** Availability news that every source in it holds nothing (they stopped sharing). */
const isEmpty = (e: SourcesUpdated): boolean => e.changes !== undefined && e.changes.every((c) => c.kind === 'bits' && c.bits.every((b) => b === 0));

const notProvided = (name: string): Error => new Error(`download machine: actor "${name}" not provided`);

/** The download machine. Provide `lookup`, `prepare`, `fetchChunks`, `join` (and `release`) before creating an actor. */
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
    prepare: fromPromise<Prepared, PrepareInput>(async () => {
      throw notProvided('prepare');
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
    /** Retrying cannot help (src/errors.ts decides, for every phase). */
    fatal: (_, params: { error: unknown }) => isFatal(params.error),
    /** Someone has something of the file: worth looking up again now rather than after the backoff. */
    sourceAppeared: (_, params: { event: SourcesUpdated }) => params.event.sources.length > 0 && !isEmpty(params.event),
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
    /** The partial file is open: what it already holds (a resume) counts as progress made. */
    // the verified manifest, not the announcers, says what the file is; liars are struck
    storePrepared: assign(({ context }, { prepared }: { prepared: Prepared }) => ({
      prepared, verifiedChunks: prepared.verifiedChunks, bytes: prepared.bytes, struck: prepared.struck,
      file: prepared.file ?? context.file, totalChunks: prepared.file?.chunkCount ?? context.totalChunks, sources: prepared.sources ?? context.sources,
    })),
    /** Close the partial file and let go of the file (provided by the session; a no-op here). */
    release: () => undefined,
    forgetPrepared: assign({ prepared: undefined }),
    noteReason: assign((_, params: { reason: string }) => ({ lastReason: boundedMessage(params.reason) })),
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
    /** Whole-file sources replace the list; availability news (`changes`) only goes to the fetcher. */
    recordSources: assign(({ context }, params: { event: SourcesUpdated }) => ({
      sources: params.event.changes ? context.sources : params.event.sources,
    })),
    forwardSources: sendTo('fetchChunks', (_, params: { event: SourcesUpdated }) => params.event),
    finish: assign((_, params: { status: DownloadStatus; path: string }) => ({
      status: params.status,
      path: params.path,
    })),
    setError: assign((_, params: { code: string; message: string }) => ({
      error: { code: params.code, message: boundedMessage(params.message) },
    })),
    giveUp: assign(({ context }) => ({
      error: {
        code: 'RETRIES_EXHAUSTED',
        message: boundedMessage(`gave up after ${context.attempts - 1} retries: ${context.lastReason ?? 'unknown reason'}`),
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
    startedAt: input.startedAt ?? 0,
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
            target: 'preparing',
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
    preparing: {
      invoke: {
        id: 'prepare',
        src: 'prepare',
        // `file` is always set on the way in (hasSources guard).
        input: ({ context }) => ({ file: context.file!, sources: context.sources }),
        onDone: {
          target: 'fetching',
          actions: { type: 'storePrepared', params: ({ event }) => ({ prepared: event.output }) },
        },
        onError: [
          {
            guard: { type: 'fatal', params: ({ event }) => ({ error: event.error }) },
            target: 'failed',
            actions: { type: 'setError', params: ({ event }) => errorOf(event.error, 'IO_ERROR') },
          },
          { target: 'retrying', actions: { type: 'noteReason', params: ({ event }) => ({ reason: messageOf(event.error) }) } },
        ],
      },
    },
    fetching: {
      invoke: {
        id: 'fetchChunks',
        src: 'fetchChunks',
        input: ({ context }) => ({ file: context.file!, sources: context.sources, prepared: context.prepared }),
        // The fetcher itself threw (a bug or a missing provide): fatal, not retried.
        onError: { target: 'failed', actions: { type: 'setError', params: ({ event }) => errorOf(event.error, 'INTERNAL') } },
      },
      on: {
        'fetch.progress': { actions: { type: 'recordProgress', params: ({ event }) => event } },
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
            { type: 'recordSources', params: ({ event }) => ({ event }) },
            { type: 'forwardSources', params: ({ event }) => ({ event }) },
          ],
        },
      },
    },
    retrying: {
      entry: ['release', 'forgetPrepared', 'countRetry', assign({ rateBps: 0 })],
      // Entry actions run before eventless transitions, so the guard sees the new count.
      always: { guard: 'retriesExhausted', target: 'failed', actions: 'giveUp' },
      after: { retryDelay: { target: 'lookup' } },
      on: {
        'sources.updated': [
          {
            guard: { type: 'sourceAppeared', params: ({ event }) => ({ event }) },
            target: 'lookup',
            actions: { type: 'recordSources', params: ({ event }) => ({ event }) },
          },
          { actions: { type: 'recordSources', params: ({ event }) => ({ event }) } },
        ],
      },
    },
    joining: {
      invoke: {
        id: 'join',
        src: 'join',
        input: ({ context }) => ({ file: context.file!, prepared: context.prepared }),
        onDone: {
          target: 'done',
          actions: { type: 'finish', params: ({ event }) => ({ status: 'done' as const, path: event.output.path }) },
        },
        onError: { target: 'failed', actions: { type: 'setError', params: ({ event }) => errorOf(event.error, 'IO_ERROR') } },
      },
    },
    // `finish` set status and path on the way in (done or already-present).
    done: { type: 'final', entry: ['release', 'forgetPrepared', assign({ rateBps: 0 })] },
    failed: { type: 'final', entry: ['release', 'forgetPrepared', assign({ status: 'failed', rateBps: 0 })] },
    cancelled: {
      type: 'final',
      entry: ['release', 'forgetPrepared', assign({ status: 'cancelled', rateBps: 0, error: { code: 'CANCELLED', message: 'cancelled by user' } })],
    },
  },
  output: ({ context }) => ({
    status: context.status,
    path: context.path,
    error: context.error,
    file: context.file,
  }),
});
