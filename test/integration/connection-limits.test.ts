// The chunk server under connection pressure: 500 idle sockets from one address take at most that
// address's share (the rest are told BUSY) while a real download from another address completes,
// and the server closes the idle ones within the frame timeout; a client trickling a frame byte by
// byte is cut off; an idle connection is closed; a client that never reads its answers is dropped;
// and a fetch reconnects to a source whose idle connection the server closed.
import test from 'ava';
import { connect, type Socket } from 'node:net';
import { BusyError } from '../../src/errors.js';
import { encodeGetChunk, encodeGetManifest, FrameParser, FrameType, type FrameEvent } from '../../src/protocol/frames.js';
import { PeerConnection } from '../../src/transport/chunk-client.js';
import { fetchFile, startFetch } from '../../src/download/fetch.js';
import { FairThrottle } from '../../src/transport/rate-limit.js';
import { CHUNK, fetchOptions, joinedSha256, logger, openPartial, sha256, sharedFile, source, startServer, until, withTimeout } from '../helpers/chunks.js';

/** Frames the server sent on a raw socket, decoded (HELLO, ERROR…). */
function watch(socket: Socket): { events: FrameEvent[]; closed: Promise<void>; isClosed: () => boolean } {
  const events: FrameEvent[] = [];
  const parser = new FrameParser({ accept: [FrameType.Hello, FrameType.Error, FrameType.Manifest, FrameType.Chunk] });
  let closedNow = false;
  socket.on('data', (input: Buffer) => parser.push(input, (e) => events.push(e)));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => ((closedNow = true), resolve())));
  return { events, closed, isClosed: () => closedNow };
}

/** A raw TCP socket to the server, from `localAddress`. */
function rawSocket(port: number, localAddress?: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ...(localAddress ? { localAddress } : {}) });
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** 127.0.0.2 if this OS lets us bind it (Linux routes all of 127/8 to loopback), else undefined. */
async function secondLoopback(port: number): Promise<string | undefined> {
  try {
    (await rawSocket(port, '127.0.0.2')).destroy();
    return '127.0.0.2';
  } catch {
    return undefined;
  }
}

const connectionError = (e: FrameEvent) => (e.type === 'error' && e.reqId === 0 ? e.code : undefined);

test('500 idle sockets from one address: the rest of the world is still served, and the idle ones are closed in time', async (t) => {
  const file = await sharedFile(t, 2 * 1024 * 1024);
  // long enough that, even on a loaded machine, the flood is fully open before the first deadline
  const frameTimeoutMs = 3000;
  const probe = await startServer(t, [file]);
  const flooder = await secondLoopback(probe.port);
  // with a second loopback address the default per-address cap (32) applies to the flood;
  // without one the flood and the download share 127.0.0.1, so the cap is raised for this test
  const perAddress = flooder ? 32 : 1000;
  if (!flooder) t.log('cannot bind 127.0.0.2: flooding from 127.0.0.1 with maxConnectionsPerAddress raised');
  const { server, port } = await startServer(t, [file], { maxConnections: 1000, maxConnectionsPerAddress: perAddress, frameTimeoutMs, idleTimeoutMs: 30_000 });

  const sockets: Socket[] = [];
  t.teardown(() => sockets.forEach((s) => s.destroy()));
  const watched: ReturnType<typeof watch>[] = [];
  // open them in parallel batches: a quick flood, as an attacker would
  for (let batch = 0; batch < 5; batch++) {
    const opened = await Promise.all(Array.from({ length: 100 }, () => rawSocket(port, flooder)));
    for (const socket of opened) {
      sockets.push(socket);
      watched.push(watch(socket));
    }
  }
  const floodedAt = Date.now();
  if (flooder) {
    await until(() => server.stats.refused === 500 - perAddress, 5000, 'the sockets over the per-address cap to be refused');
    t.is(server.stats.connections, perAddress);
  }

  // meanwhile, a real download from 127.0.0.1 completes
  const partial = await openPartial(t, file);
  const outcome = await fetchFile(fetchOptions(file, partial, [source('seed', port)]));
  t.deepEqual(outcome, { outcome: 'complete' });
  t.is(await joinedSha256(t, partial), sha256(file.data));

  // every flooding socket is closed by the server, the idle ones within the frame timeout
  await withTimeout(Promise.all(watched.map((w) => w.closed)), frameTimeoutMs + 1500, 'the server to close all 500 sockets');
  t.log(`all 500 closed ${Date.now() - floodedAt} ms after the flood (frame timeout ${frameTimeoutMs} ms)`);
  const codes = watched.map((w) => w.events.map(connectionError).find(Boolean));
  const busy = codes.filter((c) => c === 'BUSY').length;
  const timedOut = codes.filter((c) => c === 'TIMEOUT').length;
  t.is(server.stats.timedOut, flooder ? perAddress : 500);
  t.is(timedOut, server.stats.timedOut, 'each idle socket was told TIMEOUT before it was closed');
  if (flooder) t.is(busy, 500 - perAddress, 'each refused socket was told BUSY');
  await until(() => server.stats.connections === 0, 2000, 'no connection left open');
});

test('a slowloris trickling one byte at a time is cut off at the frame deadline', async (t) => {
  const file = await sharedFile(t, 4 * CHUNK);
  const frameTimeoutMs = 600;
  const { server, port } = await startServer(t, [file], { frameTimeoutMs });
  const socket = await rawSocket(port);
  t.teardown(() => socket.destroy());
  const w = watch(socket);
  // one good request first: the deadline is per frame, not since the accept
  socket.write(encodeGetManifest(1, file.fileId));
  await until(() => w.events.some((e) => e.type === 'manifest'), 2000, 'the manifest');
  const frame = encodeGetChunk(2, file.fileId, 0);
  const started = Date.now();
  let sent = 0;
  const trickle = setInterval(() => sent < frame.length - 1 && socket.write(frame.subarray(sent, ++sent)), 100);
  t.teardown(() => clearInterval(trickle));
  await withTimeout(w.closed, frameTimeoutMs + 2000, 'the server to cut the trickle');
  const took = Date.now() - started;
  t.true(took >= frameTimeoutMs - 50 && took < frameTimeoutMs + 1500, `cut after ${took} ms`);
  t.true(sent < frame.length, 'the frame was never completed');
  t.is(w.events.map(connectionError).find(Boolean), 'TIMEOUT');
  t.is(server.stats.timedOut, 1);

  // and the server goes on serving
  const conn = await PeerConnection.connect({ host: '127.0.0.1', port }, { timeoutMs: 2000, logger, maxChunkBytes: CHUNK });
  t.teardown(() => conn.close());
  t.deepEqual(await conn.getManifest(file.fileId), file.manifest);
});

test('an idle connection is closed after idleTimeoutMs; a busy one is not', async (t) => {
  const file = await sharedFile(t, 4 * CHUNK);
  const idleTimeoutMs = 400;
  const { server, port } = await startServer(t, [file], { idleTimeoutMs });
  const opts = { timeoutMs: 5000, logger, maxChunkBytes: CHUNK };
  const idle = await PeerConnection.connect({ host: '127.0.0.1', port }, opts);
  const busy = await PeerConnection.connect({ host: '127.0.0.1', port }, opts);
  t.teardown(() => (idle.close(), busy.close()));
  await idle.getManifest(file.fileId);
  const lastAsked = Date.now();
  const idleClosedAt = until(() => idle.closed, 3000, 'the idle connection to be closed').then(() => Date.now());
  // the busy one asks every 100 ms for longer than the idle timeout
  for (let i = 0; i < 10; i++) {
    await busy.getManifest(file.fileId);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const after = (await idleClosedAt) - lastAsked;
  t.true(after >= idleTimeoutMs - 20 && after < idleTimeoutMs + 1000, `closed ${after} ms after its last request`);
  t.false(busy.closed, 'the connection that keeps asking stays open');
  t.is(server.stats.idleClosed, 1);
});

test('over maxConnectionsPerAddress a new connection is told BUSY; another address is not', async (t) => {
  const file = await sharedFile(t, 4 * CHUNK);
  const { port } = await startServer(t, [file], { maxConnectionsPerAddress: 2 });
  const other = await secondLoopback(port);
  const opts = { timeoutMs: 5000, logger, maxChunkBytes: CHUNK };
  const held = [await PeerConnection.connect({ host: '127.0.0.1', port }, opts), await PeerConnection.connect({ host: '127.0.0.1', port }, opts)];
  t.teardown(() => held.forEach((c) => c.close()));
  const third = await PeerConnection.connect({ host: '127.0.0.1', port }, opts);
  t.teardown(() => third.close());
  const err = await t.throwsAsync(third.getManifest(file.fileId), { instanceOf: BusyError });
  t.regex(err!.message, /too many connections from your address/);
  if (!other) return t.log('cannot bind 127.0.0.2: the other-address half is skipped');
  const socket = await rawSocket(port, other);
  t.teardown(() => socket.destroy());
  const w = watch(socket);
  socket.write(encodeGetManifest(1, file.fileId));
  await until(() => w.events.some((e) => e.type === 'manifest'), 2000, 'a manifest for the other address');
});

test('a client that never reads its answers is dropped after idleTimeoutMs', async (t) => {
  const file = await sharedFile(t, 64 * CHUNK); // 4 MiB: more than the socket buffers hold
  const { server, port } = await startServer(t, [file], { idleTimeoutMs: 500 });
  const socket = await rawSocket(port);
  t.teardown(() => socket.destroy());
  socket.pause(); // never read
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.on('error', () => undefined);
  for (let i = 0; i < 64; i++) socket.write(encodeGetChunk(i + 1, file.fileId, i));
  await until(() => server.stats.idleClosed === 1, 5000, 'the server to drop the stalled client');
  await until(() => server.stats.connections === 0, 2000, 'its connection to be gone');
  t.is(server.stats.timedOut, 0, 'dropped as stalled, not for a late frame');
  socket.destroy();
  await closed;
});

test('a partial source whose idle connection the server closed is reconnected once it has chunks, without a drop', async (t) => {
  const file = await sharedFile(t, 16 * CHUNK);
  // a complete source slowed to ~2 s for the file, so the fetch is still running when `half` gains
  const seed = await startServer(t, [file], {}, { throttle: new FairThrottle({ rateBps: 512 * 1024 }) });
  const half = await startServer(t, [file], { frameTimeoutMs: 300 });
  const partial = await openPartial(t, file);
  const events: string[] = [];
  const fetch = startFetch(fetchOptions(file, partial, [source('seed', seed.port)], { onSourceEvent: (e) => e.kind !== 'chunk' && events.push(`${e.peerId} ${e.kind}`) }));
  // `half` is known but has nothing yet: its connection sits idle and the server closes it
  fetch.updateSource(source('half', half.port), { kind: 'bits', bits: new Uint8Array(2) });
  await until(() => half.server.stats.timedOut === 1, 3000, 'the server to close the idle connection');
  fetch.updateSource(source('half', half.port), { kind: 'gained', ranges: [[0, 16]] });
  t.deepEqual(await fetch.done, { outcome: 'complete' });
  t.true(half.server.stats.chunks > 0, `the reconnected source served: ${events.join('; ')}`);
  t.false(events.some((e) => e.startsWith('half dropped') || e.startsWith('half strike')), events.join('; '));
  t.is(await joinedSha256(t, partial), sha256(file.data));
});
