// Unit tests of the chunk scheduler's rules (src/download/scheduler.ts) without sockets, disks or
// sleeps: a manual clock, a fixed `random`, fake connections that answer as each test scripts,
// and an in-memory chunk sink. Strikes, BUSY backoff, reconnect limits, sources joining and
// leaving, the endgame and exhaustion.
import test, { type ExecutionContext } from 'ava';
import { BusyError, ChunkHashMismatchError, NotFoundError, P2PError, PeerTimeoutError, PeerUnreachableError, TimeoutError } from '../../src/errors.js';
import { bitfieldBytes, setBit } from '../../src/protocol/bitfield.js';
import type { Source } from '../../src/protocol/messages.js';
import { createLogger } from '../../src/logger.js';
import { ChunkScheduler } from '../../src/download/scheduler.js';
import type { ChunkConnection, ChunkSink, FetchOptions, FetchOutcome, RequestEnd } from '../../src/download/fetch-options.js';
import { MAX_RECONNECTS, NEIGHBOUR_INFLIGHT_BYTES, PENDING_WRITE_BYTES, TAIL_PERCENT, busyBackoffMs, inTail, pendingWritesFor, requestDepth } from '../../src/download/source.js';
import { ManualClock, settle } from '../helpers/manual-clock.js';

const CHUNK = 16;
const logger = createLogger({ level: 'error' });
const source = (peerId: string): Source => ({ peerId, endpoint: { host: '127.0.0.1', port: 1 } });

/** How a fake source answers a request: bytes, an error, or 'hold' (no answer until the test says). */
type Answer = 'ok' | 'hold' | P2PError;

interface Request {
  index: number;
  signal: AbortSignal | undefined;
  resolve: () => void;
  reject: (err: P2PError) => void;
}

class FakeConnection implements ChunkConnection {
  closed = false;
  closeReason: P2PError | undefined;
  readonly open: Request[] = [];

  constructor(private readonly peer: FakePeer) {}

  getChunk(_fileId: string, index: number, length: number, _hash: Buffer, signal?: AbortSignal): Promise<Buffer[]> {
    this.peer.asked.push(index);
    if (this.closed) return Promise.reject(new PeerUnreachableError('connection closed'));
    return new Promise<Buffer[]>((resolve, reject) => {
      const req: Request = { index, signal, resolve: () => resolve([Buffer.alloc(length, index)]), reject };
      signal?.addEventListener('abort', () => {
        this.peer.aborted.push(index);
        reject(new P2PError('CANCELLED', 'request cancelled'));
      });
      const answer = this.peer.answer(index, this);
      if (answer === 'ok') queueMicrotask(req.resolve);
      else if (answer instanceof P2PError) queueMicrotask(() => reject(answer));
      else this.open.push(req);
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const r of this.open.splice(0)) r.reject(new PeerUnreachableError('connection closed'));
  }
}

/** A source the test scripts: `answer` decides each request; connections are counted. */
class FakePeer {
  readonly asked: number[] = [];
  readonly aborted: number[] = [];
  readonly connections: FakeConnection[] = [];
  unreachable = false;
  constructor(public answer: (index: number, conn: FakeConnection) => Answer = () => 'ok') {}

  connect(): Promise<ChunkConnection> {
    if (this.unreachable) return Promise.reject(new PeerUnreachableError('connection refused'));
    const conn = new FakeConnection(this);
    this.connections.push(conn);
    return Promise.resolve(conn);
  }

  /** Answer every held request now. */
  release(): void {
    for (const c of this.connections) for (const r of c.open.splice(0)) r.resolve();
  }
}

/** Verified chunks in memory. */
class MemorySink implements ChunkSink {
  readonly written: number[] = [];
  private readonly have: boolean[];
  constructor(count: number, held: number[] = []) {
    this.have = Array.from({ length: count }, (_, i) => held.includes(i));
  }
  has = (i: number) => this.have[i] === true;
  isComplete = () => this.have.every(Boolean);
  verifiedCount = () => this.have.filter(Boolean).length;
  verifiedBytes = () => this.verifiedCount() * CHUNK;
  async writeChunk(index: number): Promise<void> {
    this.have[index] = true;
    this.written.push(index);
  }
  async flush(): Promise<void> {}
}

interface Setup {
  clock: ManualClock;
  sink: MemorySink;
  events: string[];
  scheduler: ChunkScheduler;
  outcome: () => FetchOutcome | Error | undefined;
}

function start(t: ExecutionContext, peers: Record<string, FakePeer>, opts: { chunks?: number; sources?: string[]; held?: number[]; options?: Partial<FetchOptions> } = {}): Setup {
  const count = opts.chunks ?? 8;
  const clock = new ManualClock();
  const sink = new MemorySink(count, opts.held);
  const events: string[] = [];
  const abort = new AbortController();
  t.teardown(() => abort.abort());
  const scheduler = new ChunkScheduler(
    { clock, random: () => 0, connect: (s) => peers[s.peerId]!.connect() },
    {
      fileId: 'f'.repeat(64),
      manifest: { size: count * CHUNK, chunkSize: CHUNK, hashes: Array.from({ length: count }, () => Buffer.alloc(32)) },
      sources: (opts.sources ?? Object.keys(peers)).map(source),
      partial: sink,
      pipeline: 2,
      chunkTimeoutMs: 5000,
      maxStrikes: 2,
      progressMs: 250,
      logger,
      signal: abort.signal,
      onProgress: () => undefined,
      onSourceEvent: (e) => e.kind !== 'chunk' && events.push(`${e.peerId} ${e.kind}${e.detail ? ` ${e.detail}` : ''}`),
      ...opts.options,
    },
  );
  let result: FetchOutcome | Error | undefined;
  scheduler.done.then(
    (o) => (result = o),
    (e: Error) => (result = e),
  );
  scheduler.start();
  return { clock, sink, events, scheduler, outcome: () => result };
}

test('every chunk from two sources: complete, both used', async (t) => {
  const a = new FakePeer();
  const b = new FakePeer();
  const s = start(t, { a, b });
  await settle(20);
  t.deepEqual(s.outcome(), { outcome: 'complete' });
  t.deepEqual([...s.sink.written].sort(), [0, 1, 2, 3, 4, 5, 6, 7]);
  t.true(a.asked.length > 0 && b.asked.length > 0);
  t.is(a.asked.length + b.asked.length, 8, 'no chunk asked twice outside the endgame');
});

test('strikes: a source that sends bad chunks is dropped for good after maxStrikes; its chunks come from the other', async (t) => {
  const liar = new FakePeer(() => new ChunkHashMismatchError('bad hash'));
  const good = new FakePeer();
  const s = start(t, { liar, good });
  await settle(20);
  t.deepEqual(s.outcome(), { outcome: 'complete' });
  t.deepEqual(s.events.filter((e) => e.startsWith('liar')), ['liar connected', 'liar strike CHUNK_HASH_MISMATCH', 'liar strike CHUNK_HASH_MISMATCH', 'liar dropped 2 strikes, last CHUNK_HASH_MISMATCH']);
  // banned: it does not come back even when it says it has everything
  s.scheduler.updateSource(source('liar'), { kind: 'all' });
  t.is(liar.connections.length, 1);
});

test('BUSY backs off (no request before the backoff ends) and is no strike', async (t) => {
  let busy = 2;
  const a = new FakePeer(() => (busy-- > 0 ? new BusyError('no upload slot') : 'ok'));
  const s = start(t, { a }, { chunks: 2, options: { pipeline: 1 } });
  await settle();
  t.deepEqual(a.asked, [a.asked[0]!], 'asked once, told BUSY');
  t.deepEqual(s.events, ['a connected', 'a busy']);
  const first = busyBackoffMs(1, 0);
  await s.clock.advance(first - 10);
  t.is(a.asked.length, 1, 'nothing asked while backing off');
  await s.clock.advance(20);
  t.is(a.asked.length, 2, 'asked again once the backoff is over, told BUSY again');
  await s.clock.advance(busyBackoffMs(2, 0) + 1);
  await settle(20);
  t.deepEqual(s.outcome(), { outcome: 'complete' });
  t.false(s.events.some((e) => e.includes('strike')));
});

test('reconnect limit: a server that closes every connection idle is dropped (not banned) after MAX_RECONNECTS', async (t) => {
  const a = new FakePeer((_, conn) => {
    conn.closeReason = new TimeoutError('idle connection closed');
    conn.closed = true;
    return new PeerUnreachableError('connection closed');
  });
  const s = start(t, { a });
  await settle(30);
  t.is(a.connections.length, MAX_RECONNECTS + 1);
  t.deepEqual(s.outcome(), { outcome: 'exhausted', reason: `last source a dropped: closed ${MAX_RECONNECTS + 1} connections in a row without a chunk` });
});

test('a source joining with part of the file is asked only for what it has, and no more once it leaves', async (t) => {
  const slow = new FakePeer(() => 'hold');
  const partial = new FakePeer();
  const s = start(t, { slow, partial }, { sources: ['slow'], options: { pipeline: 1 } });
  await settle();
  const bits = new Uint8Array(bitfieldBytes(8));
  for (const i of [5, 6, 7]) setBit(bits, i);
  s.scheduler.updateSource(source('partial'), { kind: 'bits', bits });
  await settle(20);
  t.true(partial.asked.length >= 2);
  t.true(partial.asked.every((i) => i >= 5), `asked only 5-7: ${partial.asked}`);
  const before = partial.asked.length;
  partial.answer = () => 'hold';
  s.scheduler.updateSource(source('partial'), { kind: 'bits', bits: new Uint8Array(bitfieldBytes(8)) });
  slow.release();
  await settle(20);
  t.true(partial.asked.length <= before + 1, 'a source that has nothing now is not asked again');
  t.is(s.outcome(), undefined, 'still fetching from the slow source');
});

test('endgame: the last chunk, out too long on a slow source, is duplicated on an idle one; the loser is cancelled', async (t) => {
  const slow = new FakePeer((index) => (index === 0 ? 'hold' : 'ok'));
  const fast = new FakePeer((index) => (index === 0 ? 'hold' : 'ok'));
  const s = start(t, { slow, fast }, { chunks: 4, options: { pipeline: 1, endgameMinMs: 1000 } });
  await settle(20);
  t.is(s.sink.verifiedCount(), 3);
  const holder = slow.asked.includes(0) ? slow : fast;
  const other = holder === slow ? fast : slow;
  t.false(other.asked.includes(0), 'chunk 0 out once');
  other.answer = () => 'ok';
  await s.clock.advance(1500);
  t.true(other.asked.includes(0), 'duplicated once old enough');
  await settle(20);
  t.deepEqual(s.outcome(), { outcome: 'complete' });
  t.deepEqual(holder.aborted, [0], "the loser's request was cancelled");
});

test('every request is reported as it ends (the debug trace): its source, how long it took, ok or how it failed', async (t) => {
  const ends: RequestEnd[] = [];
  // chunk 0 is held (the endgame duplicates it); the first request for chunk 1 is told BUSY
  let busy = 0;
  const answer = (index: number): Answer => (index === 0 ? 'hold' : index === 1 && busy++ === 0 ? new BusyError('every upload slot is taken') : 'ok');
  const slow = new FakePeer(answer);
  const fast = new FakePeer(answer);
  const s = start(t, { slow, fast }, { chunks: 4, options: { pipeline: 1, endgameMinMs: 1000, onRequestEnd: (r) => ends.push(r) } });
  await settle(20);
  const holder = slow.asked.includes(0) ? slow : fast;
  const other = holder === slow ? fast : slow;
  other.answer = () => 'ok';
  await s.clock.advance(1500);
  await settle(20);
  t.deepEqual(s.outcome(), { outcome: 'complete' });
  const name = (p: FakePeer) => (p === slow ? 'slow' : 'fast');
  const ok = ends.filter((e) => e.outcome === 'ok');
  t.deepEqual(ok.map((e) => e.index).sort(), [0, 1, 2, 3], 'each chunk ended ok once');
  t.true(ends.every((e) => e.complete && (e.from === 'slow' || e.from === 'fast')));
  const cancelled = ends.find((e) => e.index === 0 && e.outcome !== 'ok');
  t.is(cancelled?.from, name(holder), 'the endgame loser');
  t.is(cancelled?.outcome, 'CANCELLED');
  t.true(cancelled!.tookMs >= 1000, `out since the start until the endgame's wait (1000 ms) had passed: ${cancelled?.tookMs} ms`);
  t.is(ok.find((e) => e.index === 0)?.from, name(other));
  t.is(ends.length, slow.asked.length + fast.asked.length, 'one end per request');
  t.deepEqual(ends.filter((e) => e.outcome === 'BUSY').map((e) => e.index), [1], 'the BUSY answer, by its code');
});

test('exhaustion: every source unreachable → exhausted at once, with the reason', async (t) => {
  const a = new FakePeer();
  a.unreachable = true;
  const s = start(t, { a });
  await settle(10);
  t.deepEqual(s.outcome(), { outcome: 'exhausted', reason: 'last source a dropped: PEER_UNREACHABLE: connection refused' });
});

test('exhaustion: connected sources with none of the missing chunks → exhausted after chunkTimeoutMs of idleness', async (t) => {
  const a = new FakePeer();
  const gone = new FakePeer();
  gone.unreachable = true;
  const s = start(t, { a, gone }, { sources: ['gone'], held: [0, 1, 2, 3] });
  const bits = new Uint8Array(bitfieldBytes(8));
  setBit(bits, 0);
  s.scheduler.updateSource(source('a'), { kind: 'bits', bits });
  await settle(10);
  t.is(s.outcome(), undefined, 'still waiting for someone to have chunks 4-7');
  await s.clock.advance(4000);
  t.is(s.outcome(), undefined);
  await s.clock.advance(2000);
  await settle(10);
  t.deepEqual(s.outcome(), { outcome: 'exhausted', reason: 'no source has the 4 missing chunks' });
});

test('a neighbour that finishes while our requests are out: its NOT_FOUND answers are misses, not strikes', async (t) => {
  const slow = new FakePeer(() => 'hold');
  const done = new FakePeer(() => 'hold');
  const s = start(t, { slow, done }, { sources: ['slow'], options: { pipeline: 2, maxStrikes: 1 } });
  await settle();
  const bits = new Uint8Array(bitfieldBytes(8));
  for (const i of [4, 5, 6, 7]) setBit(bits, i);
  s.scheduler.updateSource(source('done'), { kind: 'bits', bits });
  await settle(20);
  t.true(done.asked.length >= 1, 'the partial neighbour was asked');
  // it completes its download: "complete" reaches us before the answers it gave in between
  s.scheduler.updateSource(source('done'), { kind: 'all' });
  for (const c of done.connections) for (const r of c.open.splice(0)) r.reject(new NotFoundError('unknown file'));
  done.answer = () => 'ok';
  slow.release();
  slow.answer = () => 'ok';
  await settle(40);
  t.false(s.events.some((e) => e.startsWith('done strike') || e.startsWith('done dropped')), s.events.join('; '));
  t.deepEqual(s.outcome(), { outcome: 'complete' });
});

test('a source dropped for timeouts (slow, not cheating) may come back after the rejoin delay', async (t) => {
  const slow = new FakePeer(() => new PeerTimeoutError('sent nothing for 5000 ms'));
  const other = new FakePeer(() => 'hold');
  const s = start(t, { slow, other });
  await settle(20);
  t.true(s.events.some((e) => e.startsWith('slow dropped')), s.events.join('; '));
  slow.answer = () => 'ok';
  s.scheduler.updateSource(source('slow'), { kind: 'all' });
  await settle(20);
  t.is(slow.connections.length, 1, 'not before the rejoin delay');
  await s.clock.advance(2500);
  s.scheduler.updateSource(source('slow'), { kind: 'all' });
  await settle(40);
  t.is(slow.connections.length, 2, 'taken back: timeouts are no ban');
  t.deepEqual(s.outcome(), { outcome: 'complete' });
});

test('verified chunks waiting for the disk: bounded in bytes (2 MiB), at least 2, at most max(8, 2 × pipeline)', (t) => {
  const KiB = 1024;
  const MiB = 1024 * KiB;
  t.is(PENDING_WRITE_BYTES, 2 * MiB);
  // big files' 1 MiB chunks: with the default pipeline of 6, at most 6 + 2 chunk buffers per source
  // are out at once (the answers already asked for still come while the disk is behind)
  t.is(pendingWritesFor(6, MiB), 2);
  t.is(pendingWritesFor(6, 4 * MiB), 2);
  t.is(pendingWritesFor(6, 256 * KiB), 8);
  t.is(pendingWritesFor(6, 16 * KiB), 12);
  t.is(pendingWritesFor(2, 16 * KiB), 8);
});

test('a neighbour still downloading is asked for neighbourInFlightBytes at a time; a complete source for `pipeline`', async (t) => {
  const seeder = new FakePeer(() => 'hold');
  const neighbour = new FakePeer(() => 'hold');
  // 16-byte chunks: 40 bytes in flight per neighbour is 2 chunks; the seeder keeps 6 out
  const s = start(t, { seeder, neighbour }, { chunks: 32, sources: ['seeder'], options: { pipeline: 6, neighbourInFlightBytes: 40 } });
  await settle();
  const bits = new Uint8Array(bitfieldBytes(32));
  for (let i = 16; i < 32; i++) setBit(bits, i);
  s.scheduler.updateSource(source('neighbour'), { kind: 'bits', bits });
  await settle(20);
  t.is(seeder.asked.length, 6, `the seeder: ${seeder.asked}`);
  t.is(neighbour.asked.length, 2, `the neighbour: ${neighbour.asked}`);
  // one answer frees one slot: the next request goes out, never a third at once
  const [first] = neighbour.connections[0]!.open.splice(0, 1);
  first!.resolve();
  await settle(20);
  t.is(neighbour.asked.length, 3);
  t.is(neighbour.connections[0]!.open.length, 2);
  // once it has the whole file, it is a complete source: `pipeline` of them
  s.scheduler.updateSource(source('neighbour'), { kind: 'all' });
  neighbour.release();
  await settle(20);
  t.is(neighbour.connections[0]!.open.length, 6);
});

/**
 * A fetch of `chunks` 16-byte chunks from one neighbour that holds them all and answers only when
 * the test says; 40 bytes in flight per neighbour (2 chunks). Its seeder never connects: the fetch
 * waits for it and asks the neighbour alone.
 */
async function neighbourAlone(t: ExecutionContext, chunks: number, tailPercent: number): Promise<{ s: Setup; neighbour: FakePeer }> {
  const neighbour = new FakePeer(() => 'hold');
  const seeder = Object.assign(new FakePeer(), { connect: () => new Promise<ChunkConnection>(() => undefined) });
  const s = start(t, { seeder, neighbour }, { chunks, sources: ['seeder'], options: { pipeline: 6, neighbourInFlightBytes: 40, tailPercent } });
  const bits = new Uint8Array(bitfieldBytes(chunks));
  for (let i = 0; i < chunks; i++) setBit(bits, i);
  s.scheduler.updateSource(source('neighbour'), { kind: 'bits', bits });
  await settle(20);
  return { s, neighbour };
}

test('in the tail (the last tailPercent % of the chunks) a neighbour still downloading is asked for one chunk at a time', async (t) => {
  // the tail is the last 25 %: 8 of 32 chunks
  const { s, neighbour } = await neighbourAlone(t, 32, 25);
  const open = () => neighbour.connections[0]!.open;
  const answerOne = async () => {
    open().splice(0, 1)[0]!.resolve();
    await settle(20);
  };
  t.is(open().length, 2);
  // 22 answered: 10 left, 2 of them asked for (not yet the tail)
  for (let i = 0; i < 22; i++) await answerOne();
  t.is(s.sink.verifiedCount(), 22);
  t.is(open().length, 2, 'outside the tail: neighbourInFlightBytes');
  // 2 more: 8 left, the tail; the 2 already out stay, no more goes out until one is answered
  await answerOne();
  t.is(open().length, 2, '9 left: still two');
  await answerOne();
  t.is(open().length, 1, '8 left (25 %): the tail, one at a time');
  for (let left = 7; left > 0; left--) {
    await answerOne();
    t.is(open().length, 1, `${left} left`);
  }
  await answerOne();
  t.is(s.sink.verifiedCount(), 32);
  t.deepEqual(s.outcome(), { outcome: 'complete' });
});

test('tailPercent 0: no tail, neighbourInFlightBytes to the last chunk', async (t) => {
  const { neighbour } = await neighbourAlone(t, 8, 0);
  for (let answered = 0; answered < 6; answered++) {
    t.is(neighbour.connections[0]!.open.length, 2, `${8 - answered} left`);
    neighbour.connections[0]!.open.splice(0, 1)[0]!.resolve();
    await settle(20);
  }
});

test('requests in flight per source: pipeline for a complete one; for a neighbour the chunks that fit in the bytes, 1 to pipeline', (t) => {
  const MiB = 1024 * 1024;
  t.is(NEIGHBOUR_INFLIGHT_BYTES, 2 * MiB);
  t.is(requestDepth(true, 6, MiB), 6);
  t.is(requestDepth(false, 6, MiB), 2, 'big files: two 1 MiB chunks');
  t.is(requestDepth(false, 6, 4 * MiB), 1, 'at least one');
  t.is(requestDepth(false, 6, 64 * 1024), 6, 'at most pipeline');
  t.is(requestDepth(false, 6, 512 * 1024), 4);
  t.is(requestDepth(false, 6, MiB, 6 * MiB), 6);
  t.is(requestDepth(false, 6, 512 * 1024, 2 * MiB, true), 1, 'in the tail: one');
  t.is(requestDepth(true, 6, 512 * 1024, 2 * MiB, true), 6, 'a complete source keeps its pipeline in the tail');
});

test('the tail: the last TAIL_PERCENT (10) % of the chunks, or as configured; 0 never', (t) => {
  t.is(TAIL_PERCENT, 10);
  t.true(inTail(51, 512));
  t.false(inTail(52, 512));
  t.true(inTail(8, 32, 25));
  t.false(inTail(9, 32, 25));
  t.false(inTail(1, 32, 0));
  t.true(inTail(32, 32, 100));
});
