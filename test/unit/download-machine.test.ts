// Unit tests of machines/download.ts: stubbed actors via `.provide()`, a SimulatedClock, no
// sockets and no sleeps. Each test drives the fake fetcher by hand and checks states and output.
import test, { type ExecutionContext } from 'ava';
import { createActor, fromCallback, fromPromise, SimulatedClock } from 'xstate';
import {
  downloadMachine,
  retryDelayMs,
  type DownloadEvent,
  type DownloadInput,
  type FetchEvent,
  type FetchInput,
  type JoinInput,
  type JoinResult,
  type LookupInput,
  type LookupResult,
  type PrepareInput,
  type Prepared,
} from '../../machines/download.js';
import { traceDetail } from '../../machines/download-info.js';
import { DiskFullError, IoError } from '../../src/errors.js';
import type { FileMeta, Source } from '../../src/protocol/messages.js';

const file: FileMeta = { fileId: 'a'.repeat(64), name: 'movie.mkv', size: 4096, chunkSize: 1024, chunkCount: 4 };
const source = (peerId: string, port: number): Source => ({ peerId, endpoint: { host: '127.0.0.1', port } });
const A = source('peer-a', 4001);
const B = source('peer-b', 4002);
const C = source('peer-c', 4003);

const found = (sources: Source[], localPath?: string): LookupResult => ({ kind: 'found', file, sources, localPath });
/** What the fake `prepare` opens: nothing held yet. */
const prepared: Prepared = { handle: 'partial-file', verifiedChunks: 0, bytes: 0 };
const missing: LookupResult = { kind: 'missing' };

/** Lets settled promises (fake lookup and join) be delivered to the machine. */
async function flush(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** One run of the fake `fetchChunks` actor, driven by the test. */
interface FetchRun {
  input: FetchInput;
  send: (event: FetchEvent) => void;
  received: DownloadEvent[];
  stopped: boolean;
}

interface Options {
  /** The nth lookup answers lookups[n] (the last one repeats); an Error rejects. */
  lookups: Array<LookupResult | Error>;
  join?: (input: JoinInput) => Promise<JoinResult>;
  input?: Partial<DownloadInput>;
  /** what the fake `prepare` adds to its answer (the verified file, the kept sources, who was struck) */
  prepared?: Partial<Prepared>;
}

/** Starts a download with fake actors; stops it when the test ends, pass or fail. */
function startDownload(t: ExecutionContext, options: Options) {
  const clock = new SimulatedClock();
  const lookupCalls: LookupInput[] = [];
  const fetches: FetchRun[] = [];
  const joinCalls: JoinInput[] = [];
  const prepareCalls: PrepareInput[] = [];
  const released: unknown[] = [];
  let held = { verifiedChunks: 0, bytes: 0 };
  const machine = downloadMachine.provide({
    actions: { release: ({ context }) => void released.push(context.prepared?.handle) },
    actors: {
      lookup: fromPromise<LookupResult, LookupInput>(async ({ input }) => {
        lookupCalls.push(input);
        const answer = options.lookups[Math.min(lookupCalls.length - 1, options.lookups.length - 1)]!;
        if (answer instanceof Error) throw answer;
        return answer;
      }),
      // the fake partial file holds what the fetcher last reported (as a real one would on reopening)
      prepare: fromPromise<Prepared, PrepareInput>(async ({ input }) => {
        prepareCalls.push(input);
        return { ...prepared, ...held, ...options.prepared };
      }),
      fetchChunks: fromCallback<DownloadEvent, FetchInput>(({ input, sendBack, receive }) => {
        const send = (event: FetchEvent) => {
          if (event.type === 'fetch.progress') held = { verifiedChunks: event.verifiedChunks, bytes: event.bytes };
          sendBack(event);
        };
        const run: FetchRun = { input, send, received: [], stopped: false };
        receive((event) => run.received.push(event));
        fetches.push(run);
        return () => {
          run.stopped = true;
        };
      }),
      join: fromPromise<JoinResult, JoinInput>(async ({ input }) => {
        joinCalls.push(input);
        return options.join ? options.join(input) : { path: `/downloads/${input.file.name}` };
      }),
    },
  });
  const input: DownloadInput = {
    downloadId: 'dl-1',
    target: 'movie.mkv',
    maxRetries: 3,
    retryBaseMs: 100,
    retryMaxMs: 1000,
    ...options.input,
  };
  const actor = createActor(machine, { input, clock });
  const states: string[] = [];
  actor.subscribe((snapshot) => {
    const value = String(snapshot.value);
    if (states.at(-1) !== value) states.push(value);
  });
  actor.start();
  t.teardown(() => actor.stop());
  const lastFetch = (): FetchRun => {
    const run = fetches.at(-1);
    if (!run) throw new Error('fetchChunks was never invoked');
    return run;
  };
  return { actor, clock, states, lookupCalls, prepareCalls, released, fetches, joinCalls, lastFetch };
}

const progress = (verifiedChunks: number, sources = 1): FetchEvent => ({
  type: 'fetch.progress',
  verifiedChunks,
  totalChunks: file.chunkCount,
  bytes: verifiedChunks * file.chunkSize,
  sources,
  rateBps: 2048,
});

test('found → fetching → joining → done', async (t) => {
  const d = startDownload(t, { lookups: [found([A, B])] });
  await flush();
  t.is(d.actor.getSnapshot().value, 'fetching');
  t.deepEqual(d.lastFetch().input, { file, sources: [A, B], prepared });
  t.deepEqual(d.prepareCalls, [{ file, sources: [A, B] }]);
  t.is(d.actor.getSnapshot().context.totalChunks, 4);

  for (let i = 1; i <= 4; i++) d.lastFetch().send(progress(i, 2));
  d.lastFetch().send({ type: 'fetch.complete' });
  t.is(d.actor.getSnapshot().value, 'joining');
  t.true(d.lastFetch().stopped);
  await flush();

  const snapshot = d.actor.getSnapshot();
  t.is(snapshot.status, 'done');
  t.deepEqual(d.states, ['lookup', 'preparing', 'fetching', 'joining', 'done']);
  t.deepEqual(snapshot.output, { status: 'done', path: '/downloads/movie.mkv', error: undefined, file });
  t.deepEqual(d.joinCalls, [{ file, prepared }]);
  t.deepEqual(d.released, ['partial-file'], 'the partial file is released once, when done');
  t.deepEqual(d.lookupCalls, [{ target: 'movie.mkv', attempt: 0 }]);
  t.is(snapshot.context.verifiedChunks, 4);
  t.is(snapshot.context.bytes, 4096);
  t.is(snapshot.context.sourcesActive, 2);
});

test('not found → retrying honours the doubling delay → lookup → found → done', async (t) => {
  const d = startDownload(t, { lookups: [missing, missing, found([A])] });
  await flush();
  t.is(d.actor.getSnapshot().value, 'retrying');
  t.is(d.actor.getSnapshot().context.attempts, 1);
  t.is(d.actor.getSnapshot().context.lastReason, 'not found');

  d.clock.increment(99); // first delay is retryBaseMs = 100
  await flush();
  t.is(d.actor.getSnapshot().value, 'retrying');
  t.is(d.lookupCalls.length, 1);
  d.clock.increment(1);
  await flush();
  t.is(d.lookupCalls.length, 2);
  t.is(d.actor.getSnapshot().value, 'retrying');
  t.is(d.actor.getSnapshot().context.attempts, 2);

  d.clock.increment(199); // second delay doubles to 200
  await flush();
  t.is(d.lookupCalls.length, 2);
  d.clock.increment(1);
  await flush();
  t.deepEqual(
    d.lookupCalls.map((call) => call.attempt),
    [0, 1, 2],
  );
  t.is(d.actor.getSnapshot().value, 'fetching');

  d.lastFetch().send({ type: 'fetch.complete' });
  await flush();
  t.deepEqual(d.states, ['lookup', 'retrying', 'lookup', 'retrying', 'lookup', 'preparing', 'fetching', 'joining', 'done']);
  t.is(d.actor.getSnapshot().output?.status, 'done');
  t.is(d.actor.getSnapshot().context.retries, 2);
});

test('retryDelayMs doubles from the base and is capped at the max', (t) => {
  t.deepEqual(
    [1, 2, 3, 4, 5, 6, 50, 5000].map((n) => retryDelayMs(n, 100, 1000)),
    [100, 200, 400, 800, 1000, 1000, 1000, 1000],
  );
  t.is(retryDelayMs(0, 100, 1000), 100);
  t.is(retryDelayMs(3, 250, 30_000), 1000);
});

test('bad chunk refetched elsewhere: machine keeps fetching, and only new progress resets attempts', async (t) => {
  const d = startDownload(t, { lookups: [missing, found([A, B])] });
  await flush();
  d.clock.increment(100);
  await flush();
  t.is(d.actor.getSnapshot().value, 'fetching');
  t.is(d.actor.getSnapshot().context.attempts, 1);

  const run = d.lastFetch();
  run.send(progress(0, 2)); // connected, nothing verified yet: no proof the swarm works
  t.is(d.actor.getSnapshot().context.attempts, 1);
  run.send(progress(1, 2)); // chunk 0 verified
  t.is(d.actor.getSnapshot().context.attempts, 0);
  // Chunk 1 from A failed its hash; the fetcher drops A and asks B: progress stalls, then goes on.
  run.send(progress(1, 1));
  t.is(d.actor.getSnapshot().value, 'fetching');
  t.is(d.actor.getSnapshot().context.sourcesActive, 1);
  for (let i = 2; i <= 4; i++) run.send(progress(i, 1));
  run.send({ type: 'fetch.complete' });
  await flush();

  const snapshot = d.actor.getSnapshot();
  t.is(snapshot.output?.status, 'done');
  t.is(snapshot.context.verifiedChunks, snapshot.context.totalChunks);
  t.is(snapshot.context.verifiedChunks, 4);
  t.is(d.fetches.length, 1);
});

test('all sources gone → fetch.exhausted → retrying → lookup again → fetching → done', async (t) => {
  const d = startDownload(t, { lookups: [found([A, B]), found([C])] });
  await flush();
  const first = d.lastFetch();
  first.send(progress(2, 2));
  first.send({ type: 'fetch.exhausted', reason: 'all sources gone' });
  t.is(d.actor.getSnapshot().value, 'retrying');
  t.true(first.stopped);
  t.is(d.actor.getSnapshot().context.lastReason, 'all sources gone');
  t.is(d.actor.getSnapshot().context.verifiedChunks, 2, 'verified chunks are kept');

  d.clock.increment(100);
  await flush();
  t.is(d.fetches.length, 2);
  t.deepEqual(d.lastFetch().input.sources, [C]);
  t.is(d.actor.getSnapshot().context.verifiedChunks, 2, 'same file: counts carry over');
  d.lastFetch().send(progress(4));
  d.lastFetch().send({ type: 'fetch.complete' });
  await flush();

  t.deepEqual(d.states, ['lookup', 'preparing', 'fetching', 'retrying', 'lookup', 'preparing', 'fetching', 'joining', 'done']);
  t.is(d.actor.getSnapshot().output?.status, 'done');
});

const givesUp = test.macro({
  async exec(t, maxRetries: number) {
    const d = startDownload(t, { lookups: [missing], input: { maxRetries } });
    for (let i = 0; i < maxRetries + 5 && d.actor.getSnapshot().status === 'active'; i++) {
      await flush();
      d.clock.increment(1000); // retryMaxMs: every delay has elapsed
    }
    await flush();
    const snapshot = d.actor.getSnapshot();
    t.is(snapshot.status, 'done');
    t.is(d.lookupCalls.length, maxRetries + 1);
    t.is(snapshot.output?.status, 'failed');
    t.is(snapshot.output?.error?.code, 'RETRIES_EXHAUSTED');
    t.is(snapshot.output?.error?.message, `gave up after ${maxRetries} retries: not found`);
    t.is(d.states.at(-1), 'failed');
  },
  title: (_, maxRetries: number) => `gives up with RETRIES_EXHAUSTED after maxRetries+1 lookups (maxRetries ${maxRetries})`,
});
test(givesUp, 3);
test(givesUp, 0);

test('lookup errors and found-without-sources are retried with their reason', async (t) => {
  const d = startDownload(t, { lookups: [new Error('tracker timeout'), found([])], input: { maxRetries: 1 } });
  await flush();
  t.is(d.actor.getSnapshot().value, 'retrying');
  t.is(d.actor.getSnapshot().context.lastReason, 'tracker timeout');
  d.clock.increment(100);
  await flush();
  const snapshot = d.actor.getSnapshot();
  t.is(d.lookupCalls.length, 2);
  t.is(snapshot.output?.error?.message, 'gave up after 1 retries: no sources');
  t.deepEqual(snapshot.output?.file, file, 'the file is kept even without sources');
  t.is(d.fetches.length, 0);
});

test('already present (localPath) → done as already-present, nothing fetched', async (t) => {
  const d = startDownload(t, { lookups: [found([A], '/shared/movie.mkv')] });
  await flush();
  const snapshot = d.actor.getSnapshot();
  t.deepEqual(d.states, ['lookup', 'done']);
  t.deepEqual(snapshot.output, { status: 'already-present', path: '/shared/movie.mkv', error: undefined, file });
  t.is(d.fetches.length, 0);
  t.is(d.joinCalls.length, 0);
});

test('fetch.failed DISK_FULL → failed with that code, no retry', async (t) => {
  const d = startDownload(t, { lookups: [found([A])] });
  await flush();
  const run = d.lastFetch();
  run.send(progress(1));
  run.send({ type: 'fetch.failed', code: 'DISK_FULL', message: 'disk full: ENOSPC' });
  const snapshot = d.actor.getSnapshot();
  t.deepEqual(d.states, ['lookup', 'preparing', 'fetching', 'failed']);
  t.deepEqual(snapshot.output?.error, { code: 'DISK_FULL', message: 'disk full: ENOSPC' });
  t.is(snapshot.output?.status, 'failed');
  t.true(run.stopped);
  t.is(d.lookupCalls.length, 1);
});

test('cancel during retrying → cancelled, and the pending retry never fires', async (t) => {
  const d = startDownload(t, { lookups: [missing] });
  await flush();
  t.is(d.actor.getSnapshot().value, 'retrying');
  d.actor.send({ type: 'cancel' });
  const snapshot = d.actor.getSnapshot();
  t.is(snapshot.value, 'cancelled');
  t.deepEqual(snapshot.output?.error, { code: 'CANCELLED', message: 'cancelled by user' });
  t.is(snapshot.output?.status, 'cancelled');
  d.clock.increment(10_000);
  await flush();
  t.is(d.lookupCalls.length, 1);
});

test('cancel during fetching → cancelled, and the fetcher is stopped (its cleanup ran)', async (t) => {
  const d = startDownload(t, { lookups: [found([A])] });
  await flush();
  const run = d.lastFetch();
  run.send(progress(1));
  t.false(run.stopped);
  d.actor.send({ type: 'cancel' });
  t.true(run.stopped);
  t.deepEqual(d.states, ['lookup', 'preparing', 'fetching', 'cancelled']);
  t.is(d.actor.getSnapshot().output?.status, 'cancelled');
  t.is(d.joinCalls.length, 0);
});

for (const [label, error, code] of [
  ['a P2PError keeps its code', new DiskFullError('disk full'), 'DISK_FULL'],
  ['an IoError', new IoError('rename failed'), 'IO_ERROR'],
  ['a plain Error becomes IO_ERROR', new Error('boom'), 'IO_ERROR'],
  ['node ENOSPC becomes DISK_FULL', Object.assign(new Error('no space'), { code: 'ENOSPC' }), 'DISK_FULL'],
  ['an unknown code becomes IO_ERROR', Object.assign(new Error('denied'), { code: 'EACCES' }), 'IO_ERROR'],
] as const) {
  test(`join error → failed: ${label}`, async (t) => {
    const d = startDownload(t, {
      lookups: [found([A])],
      join: async () => {
        throw error;
      },
    });
    await flush();
    d.lastFetch().send({ type: 'fetch.complete' });
    await flush();
    t.deepEqual(d.states, ['lookup', 'preparing', 'fetching', 'joining', 'failed']);
    t.deepEqual(d.actor.getSnapshot().output?.error, { code, message: error.message });
  });
}

test('sources.updated while fetching updates sources without changing state; while retrying it wakes the download', async (t) => {
  const d = startDownload(t, { lookups: [found([A])] });
  await flush();
  d.actor.send({ type: 'sources.updated', sources: [A, B] });
  t.is(d.actor.getSnapshot().value, 'fetching');
  t.deepEqual(d.actor.getSnapshot().context.sources, [A, B]);
  t.deepEqual(d.lastFetch().received, [{ type: 'sources.updated', sources: [A, B] }], 'forwarded to the fetcher');

  d.lastFetch().send({ type: 'fetch.exhausted', reason: 'all sources gone' });
  t.is(d.actor.getSnapshot().value, 'retrying');
  d.actor.send({ type: 'sources.updated', sources: [C] });
  t.is(d.actor.getSnapshot().value, 'lookup', 'a source appearing wakes a retrying download before its timer');
  t.deepEqual(d.actor.getSnapshot().context.sources, [C]);
});

test('availability news: forwarded to the fetcher without replacing the sources; an empty bitfield does not wake a retry', async (t) => {
  const d = startDownload(t, { lookups: [found([A])] });
  await flush();
  const news: DownloadEvent = { type: 'sources.updated', sources: [B], changes: [{ kind: 'gained', ranges: [[0, 2]] }] };
  d.actor.send(news);
  t.deepEqual(d.actor.getSnapshot().context.sources, [A]);
  t.deepEqual(d.lastFetch().received, [news]);
  d.lastFetch().send({ type: 'fetch.exhausted', reason: 'all sources gone' });
  t.deepEqual(d.released, ['partial-file'], 'leaving fetching for retrying releases the partial file');
  t.is(d.actor.getSnapshot().context.prepared, undefined);
  d.actor.send({ type: 'sources.updated', sources: [B], changes: [{ kind: 'bits', bits: new Uint8Array(1) }] });
  t.is(d.actor.getSnapshot().value, 'retrying', 'a source that holds nothing is no reason to wake');
  d.actor.send({ type: 'sources.updated', sources: [B], changes: [{ kind: 'bits', bits: Uint8Array.of(1) }] });
  t.is(d.actor.getSnapshot().value, 'lookup');
});

test('preparing: a manifest failure is retried, a disk failure (isFatal) fails at once; a resume counts what the partial file holds', async (t) => {
  const failing = (error: Error) =>
    downloadMachine.provide({
      actors: {
        lookup: fromPromise<LookupResult, LookupInput>(async () => found([A])),
        prepare: fromPromise<Prepared, PrepareInput>(async () => {
          throw error;
        }),
      },
    });
  const input = { downloadId: 'dl-p', target: 'movie.mkv', maxRetries: 3, retryBaseMs: 100, retryMaxMs: 1000 };
  const retried = createActor(failing(new Error('no source gave a valid manifest')), { input, clock: new SimulatedClock() }).start();
  const fatal = createActor(failing(new DiskFullError('disk full')), { input, clock: new SimulatedClock() }).start();
  t.teardown(() => (retried.stop(), fatal.stop()));
  await flush();
  t.is(retried.getSnapshot().value, 'retrying');
  t.is(retried.getSnapshot().context.lastReason, 'no source gave a valid manifest');
  t.is(fatal.getSnapshot().value, 'failed');
  t.deepEqual(fatal.getSnapshot().output?.error, { code: 'DISK_FULL', message: 'disk full' });

  const resumed = createActor(
    downloadMachine.provide({
      actors: {
        lookup: fromPromise<LookupResult, LookupInput>(async () => found([A])),
        prepare: fromPromise<Prepared, PrepareInput>(async () => ({ handle: 'p', verifiedChunks: 3, bytes: 3072 })),
        fetchChunks: fromCallback<DownloadEvent, FetchInput>(() => undefined),
      },
    }),
    { input, clock: new SimulatedClock() },
  ).start();
  t.teardown(() => resumed.stop());
  await flush();
  t.is(resumed.getSnapshot().value, 'fetching');
  t.like(resumed.getSnapshot().context, { verifiedChunks: 3, bytes: 3072 });
});

test('inspect shows the event that caused each transition (what the peer writes to traces)', async (t) => {
  const clock = new SimulatedClock();
  const transitions: Array<{ from: string; to: string; event: string }> = [];
  let previous: string | undefined;
  let sendBack: ((event: FetchEvent) => void) | undefined;
  let lookups = 0;
  const machine = downloadMachine.provide({
    actors: {
      lookup: fromPromise<LookupResult, LookupInput>(async () => (lookups++ === 0 ? missing : found([A]))),
      prepare: fromPromise<Prepared, PrepareInput>(async () => prepared),
      fetchChunks: fromCallback<DownloadEvent, FetchInput>(({ sendBack: send }) => {
        sendBack = send;
      }),
      join: fromPromise<JoinResult, JoinInput>(async () => ({ path: '/downloads/movie.mkv' })),
    },
  });
  const actor = createActor(machine, {
    clock,
    input: { downloadId: 'dl-2', target: 'movie.mkv', maxRetries: 3, retryBaseMs: 100, retryMaxMs: 1000 },
    inspect: (inspection) => {
      if (inspection.type !== '@xstate.snapshot' || inspection.actorRef !== actor) return;
      const to = String((inspection.snapshot as { value?: unknown }).value);
      if (previous !== undefined && to !== previous) {
        transitions.push({ from: previous, to, event: inspection.event.type });
      }
      previous = to;
    },
  });
  actor.start();
  t.teardown(() => actor.stop());
  await flush();
  clock.increment(100);
  await flush();
  sendBack!({ type: 'fetch.complete' });
  await flush();

  t.is(actor.getSnapshot().output?.status, 'done');
  t.deepEqual(transitions, [
    { from: 'lookup', to: 'retrying', event: 'xstate.done.actor.lookup' },
    { from: 'retrying', to: 'lookup', event: 'xstate.after.retryDelay.download.retrying' },
    { from: 'lookup', to: 'preparing', event: 'xstate.done.actor.lookup' },
    { from: 'preparing', to: 'fetching', event: 'xstate.done.actor.prepare' },
    { from: 'fetching', to: 'joining', event: 'fetch.complete' },
    { from: 'joining', to: 'done', event: 'xstate.done.actor.join' },
  ]);
});

test('default actors are placeholders that fail with "not provided"', async (t) => {
  const actor = createActor(downloadMachine, {
    clock: new SimulatedClock(),
    input: { downloadId: 'dl-3', target: 'x', maxRetries: 0, retryBaseMs: 100, retryMaxMs: 1000 },
  });
  actor.start();
  t.teardown(() => actor.stop());
  await flush();
  const snapshot = actor.getSnapshot();
  t.is(snapshot.output?.error?.code, 'RETRIES_EXHAUSTED');
  t.regex(snapshot.output?.error?.message ?? '', /actor "lookup" not provided/);
});

test('the verified manifest replaces the lookup’s claims: file, chunk count and sources from prepare; the struck are traced', async (t) => {
  // the lookup carried a liar's claims (first announcer); prepare checked them against the manifest
  const lie: FileMeta = { ...file, size: 9999, chunkCount: 10 };
  const struck = 'struck 1 source(s) whose claims do not match the manifest: peer-c (claims size 9999 ≠ 4096)';
  const d = startDownload(t, { lookups: [{ kind: 'found', file: lie, sources: [C, A] }], prepared: { file, sources: [A], struck } });
  await flush();
  t.is(d.actor.getSnapshot().value, 'fetching');
  const ctx = d.actor.getSnapshot().context;
  t.deepEqual(ctx.file, file);
  t.is(ctx.totalChunks, file.chunkCount);
  t.is(ctx.struck, struck);
  t.is(traceDetail(d.actor.getSnapshot()), struck, 'named in the trace while fetching');
  t.deepEqual(d.lastFetch().input.file, file);
  t.deepEqual(d.lastFetch().input.sources, [A]);
  for (let i = 1; i <= 4; i++) d.lastFetch().send(progress(i));
  d.lastFetch().send({ type: 'fetch.complete' });
  await flush();
  t.is(d.actor.getSnapshot().value, 'done');
  t.deepEqual(d.actor.getSnapshot().output?.file, file);
});
