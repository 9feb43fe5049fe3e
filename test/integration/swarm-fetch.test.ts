// The swarm engine's data plane over real sockets and files: the endgame beats a slow source,
// partial sources are asked only for what they have (and a miss costs them nothing), upload slots
// turn the extra downloader away with BUSY until one is free, and caps slow without timing out.
import test, { type ExecutionContext } from 'ava';
import { readFile } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import type { Source } from '../../src/protocol/messages.js';
import { FrameParser, FrameType, type FrameEvent } from '../../src/protocol/frames.js';
import { PartialDownload } from '../../src/store/partial.js';
import type { ServedFile } from '../../src/transport/chunk-server.js';
import { startFetch, type FetchOptions } from '../../src/download/fetch.js';
import { FairThrottle } from '../../src/transport/rate-limit.js';
import { tempDir } from '../helpers/tmp.js';
import { CHUNK, fetchOptions, openPartial, sharedFile, source, startServer as startChunkServer, type SharedFile } from '../helpers/chunks.js';

async function startServer(t: ExecutionContext, file: ServedFile, extra: { uploadSlots?: number; throttle?: FairThrottle } = {}) {
  return startChunkServer(t, [file], { uploadSlots: extra.uploadSlots }, { throttle: extra.throttle });
}

/** A source that reads requests and never answers them, recording requests and cancels. */
async function silentSource(t: ExecutionContext): Promise<{ port: number; asked: Set<number>; cancelled: Set<number> }> {
  const asked = new Set<number>();
  const cancelled = new Set<number>();
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    const parser = new FrameParser({ accept: [FrameType.GetChunk, FrameType.GetManifest, FrameType.Cancel] });
    socket.on('data', (input: Buffer) =>
      parser.push(input, (e: FrameEvent) => {
        if (e.type === 'get-chunk') asked.add(e.reqId);
        if (e.type === 'cancel') cancelled.add(e.reqId);
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.close();
    for (const s of sockets) s.destroy();
  });
  return { port: (server.address() as { port: number }).port, asked, cancelled };
}

/** This file's fetches wait longer than the shared default before striking a silent source. */
const options = (file: SharedFile, partial: PartialDownload, sources: Source[], extra: Partial<FetchOptions> = {}): FetchOptions =>
  fetchOptions(file, partial, sources, { chunkTimeoutMs: 10_000, ...extra });

async function joined(t: ExecutionContext, partial: PartialDownload): Promise<Buffer> {
  return readFile(await partial.join(await tempDir(t)));
}

test('endgame: a source that sits on its requests does not hold the tail; its requests are cancelled, not struck', async (t) => {
  const file = await sharedFile(t, 40 * CHUNK);
  const good = await startServer(t, file);
  const sloth = await silentSource(t);
  const partial = await openPartial(t, file);
  const events: string[] = [];
  const started = Date.now();
  const outcome = await startFetch(
    options(file, partial, [source('sloth', sloth.port), source('alice', good.port)], {
      endgameMinMs: 200,
      onSourceEvent: (e) => e.kind !== 'chunk' && events.push(`${e.peerId} ${e.kind}`),
    }),
  ).done;
  const took = Date.now() - started;
  t.deepEqual(outcome, { outcome: 'complete' });
  t.true(took < 5000, `took ${took} ms (the chunk timeout is 10 s)`);
  t.true(sloth.asked.size > 0, 'the slow source was asked for chunks');
  t.deepEqual([...sloth.cancelled].sort(), [...sloth.asked].sort(), 'every request to it was cancelled once won elsewhere');
  t.false(events.some((e) => e.startsWith('sloth strike') || e.startsWith('sloth dropped')), events.join('; '));
  t.is(good.server.stats.chunks, 40, 'alice served every chunk, the duplicates included');
  t.true((await joined(t, partial)).equals(file.data));
});

test('a partial source is asked only for chunks it has; one it turns out to lack costs it no strike', async (t) => {
  const file = await sharedFile(t, 24 * CHUNK);
  const asked: number[] = [];
  // serves the even chunks only (like a peer halfway through its own download)
  const half = await startServer(t, { ...file, has: (i) => (asked.push(i), i % 2 === 0) });
  // a slow complete source: the partial one gets to the chunks they both have first
  const seed = await startServer(t, file, { throttle: new FairThrottle({ rateBps: 1024 * 1024 }) });
  const partial = await openPartial(t, file);
  const events: string[] = [];
  const evens = new Uint8Array(3);
  for (let i = 0; i < 24; i += 2) evens[i >> 3]! |= 1 << (i & 7);
  evens[0]! |= 1 << 1; // it claims chunk 1 too, which it does not have
  const fetch = startFetch(options(file, partial, [source('seed', seed.port)], { onSourceEvent: (e) => e.kind !== 'chunk' && events.push(`${e.peerId} ${e.kind}`) }));
  fetch.updateSource(source('half', half.port), { kind: 'bits', bits: evens });
  t.deepEqual(await fetch.done, { outcome: 'complete' });
  t.true(asked.every((i) => i % 2 === 0 || i === 1), `asked ${asked.join(',')}`);
  t.true(asked.includes(1), 'it was asked for the chunk it claimed but lacked');
  t.true(half.server.stats.chunks > 0, 'the partial source served');
  t.is(half.server.stats.chunks + seed.server.stats.chunks, 24);
  t.false(events.some((e) => e.startsWith('half strike') || e.startsWith('half dropped')), events.join('; '));
  t.true((await joined(t, partial)).equals(file.data));
});

test('upload slots: the second downloader is told BUSY, waits its turn without strikes, and completes', async (t) => {
  const file = await sharedFile(t, 16 * CHUNK);
  // 1 MiB at 4 MiB/s: each download holds the only slot for about 250 ms
  const { server, port } = await startServer(t, file, { uploadSlots: 1, throttle: new FairThrottle({ rateBps: 4 * 1024 * 1024 }) });
  const [p1, p2] = [await openPartial(t, file), await openPartial(t, file)];
  const events: string[] = [];
  const onSourceEvent = (who: string) => (e: { kind: string }) => e.kind !== 'chunk' && e.kind !== 'connected' && events.push(`${who} ${e.kind}`);
  const first = startFetch(options(file, p1, [source('seed', port)], { onSourceEvent: onSourceEvent('first') }));
  const second = startFetch(options(file, p2, [source('seed', port)], { onSourceEvent: onSourceEvent('second') }));
  t.deepEqual(await Promise.all([first.done, second.done]), [{ outcome: 'complete' }, { outcome: 'complete' }]);
  t.true(server.stats.busy > 0, 'some requests were refused BUSY');
  t.true(events.some((e) => e.endsWith(' busy')), events.join('; '));
  t.false(events.some((e) => e.endsWith(' strike') || e.endsWith(' dropped')), events.join('; '));
  t.is(server.stats.chunks, 32, 'each chunk served once per downloader');
  t.true((await joined(t, p1)).equals(file.data));
  t.true((await joined(t, p2)).equals(file.data));
});

test('a download cap slows the fetch to its rate without any request timing out', async (t) => {
  const file = await sharedFile(t, 8 * CHUNK); // 512 KiB
  const { port } = await startServer(t, file);
  const partial = await openPartial(t, file);
  const events: string[] = [];
  const started = Date.now();
  // at 256 KiB/s each request waits ~1 s, twice the chunk timeout: only silence may time out
  const outcome = await startFetch(
    options(file, partial, [source('seed', port)], {
      chunkTimeoutMs: 500,
      throttle: new FairThrottle({ rateBps: 256 * 1024 }),
      onSourceEvent: (e) => e.kind !== 'chunk' && events.push(e.kind),
    }),
  ).done;
  const took = Date.now() - started;
  t.deepEqual(outcome, { outcome: 'complete' });
  t.true(took >= 1500, `took ${took} ms for 512 KiB at 256 KiB/s`);
  t.false(events.includes('strike') || events.includes('dropped'), events.join('; '));
  t.true((await joined(t, partial)).equals(file.data));
});

test('an upload cap is shared: two downloaders together get the capped rate, about half each', async (t) => {
  const file = await sharedFile(t, 16 * CHUNK); // 1 MiB each
  const { server, port } = await startServer(t, file, { throttle: new FairThrottle({ rateBps: 2 * 1024 * 1024 }) });
  const [p1, p2] = [await openPartial(t, file), await openPartial(t, file)];
  const started = Date.now();
  const ends: number[] = [];
  await Promise.all([p1, p2].map((p) => startFetch(options(file, p, [source('seed', port)])).done.then(() => ends.push(Date.now() - started))));
  // 2 MiB at 2 MiB/s: about a second in all, and neither finishes far ahead of the other
  t.true(ends[1]! >= 800, `both done after ${ends[1]} ms`);
  t.true(ends[0]! >= 0.7 * ends[1]!, `finished at ${ends.join(' and ')} ms`);
  t.is(server.stats.chunks, 32);
});
