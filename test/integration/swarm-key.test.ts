// The swarm key on real sockets: matching keys fetch as before; a keyless client, a keyless
// server, a wrong key, a request before the handshake, a silent client, and a server that cannot
// prove the key (or reflects our own proof) all fail with a clear error, and such a source is
// dropped from the fetch for good while the download completes from one that holds the key.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { AuthFailedError } from '../../src/errors.js';
import { AuthMode, encodeAuthOk, encodeGetManifest, encodeHello, FrameParser, FrameType, type FrameEvent } from '../../src/protocol/frames.js';
import { PeerConnection } from '../../src/transport/chunk-client.js';
import { fetchFile } from '../../src/download/fetch.js';
import { CHUNK, fakeServer, fetchOptions, joinedSha256, logger, openPartial, sha256, sharedFile, source, startServer, until, withTimeout } from '../helpers/chunks.js';

const KEY = randomBytes(32);
const OTHER_KEY = randomBytes(32);
const keyed = (swarmKey: Buffer) => ({ security: { swarmKey } });
const connectOpts = (swarmKey?: Buffer) => ({ timeoutMs: 3000, logger, maxChunkBytes: CHUNK, ...(swarmKey ? { security: { swarmKey } } : {}) });
const local = (port: number) => ({ host: '127.0.0.1', port });

/** A raw socket that records the frames the server sends. */
async function rawClient(port: number): Promise<{ socket: Socket; events: FrameEvent[]; closed: Promise<void> }> {
  const socket = connect(local(port));
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  const events: FrameEvent[] = [];
  const parser = new FrameParser({ accept: [FrameType.Hello, FrameType.Error, FrameType.Manifest, FrameType.AuthOk] });
  socket.on('data', (input: Buffer) => parser.push(input, (e) => events.push(e)));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { socket, events, closed };
}

test('matching keys: the download completes, and the server counts no failure', async (t) => {
  const file = await sharedFile(t, 2 * 1024 * 1024);
  const { server, port } = await startServer(t, [file], {}, keyed(KEY));
  const partial = await openPartial(t, file);
  t.deepEqual(await fetchFile(fetchOptions(file, partial, [source('friend', port)], keyed(KEY))), { outcome: 'complete' });
  t.is(await joinedSha256(t, partial), sha256(file.data));
  t.is(server.stats.authFailed, 0);
  t.is(server.stats.chunks, file.manifest.hashes.length);
});

test('a client without the key meeting a server that requires one: "requires a swarm key"', async (t) => {
  const file = await sharedFile(t, 4 * CHUNK);
  const { port } = await startServer(t, [file], {}, keyed(KEY));
  const conn = await PeerConnection.connect(local(port), connectOpts());
  t.teardown(() => conn.close());
  const err = await t.throwsAsync(conn.getManifest(file.fileId), { instanceOf: AuthFailedError });
  t.regex(err!.message, /requires a swarm key/);
});

test('a client with a key meeting a server without one: "did not prove the swarm key"', async (t) => {
  const file = await sharedFile(t, 4 * CHUNK);
  const { port } = await startServer(t, [file]);
  const err = await t.throwsAsync(PeerConnection.connect(local(port), connectOpts(KEY)), { instanceOf: AuthFailedError });
  t.regex(err!.message, /did not prove the swarm key/);
});

test('a wrong key: the server says AUTH_FAILED and closes', async (t) => {
  const file = await sharedFile(t, 4 * CHUNK);
  const { server, port } = await startServer(t, [file], {}, keyed(KEY));
  const err = await t.throwsAsync(PeerConnection.connect(local(port), connectOpts(OTHER_KEY)), { instanceOf: AuthFailedError });
  t.regex(err!.message, /wrong swarm key/);
  t.is(server.stats.authFailed, 1);
  await until(() => server.stats.connections === 0, 2000, 'the server to close it');
});

test('a request before the handshake gets ERROR AUTH_FAILED (reqId 0), then the connection closes', async (t) => {
  const file = await sharedFile(t, 4 * CHUNK);
  const { server, port } = await startServer(t, [file], {}, keyed(KEY));
  const { socket, events, closed } = await rawClient(port);
  t.teardown(() => socket.destroy());
  socket.write(encodeGetManifest(1, file.fileId));
  await withTimeout(closed, 3000, 'the server to close');
  t.like(events[0], { type: 'hello', mode: AuthMode.SwarmKey });
  t.like(events[1], { type: 'error', reqId: 0, code: 'AUTH_FAILED' });
  t.false(events.some((e) => e.type === 'manifest'), 'no manifest without the key');
  t.is(server.stats.authFailed, 1);
});

test('a client that does not answer the challenge is closed at the frame timeout with ERROR TIMEOUT', async (t) => {
  const file = await sharedFile(t, 4 * CHUNK);
  const { server, port } = await startServer(t, [file], { frameTimeoutMs: 300 }, keyed(KEY));
  const { socket, events, closed } = await rawClient(port);
  t.teardown(() => socket.destroy());
  const started = Date.now();
  await withTimeout(closed, 3000, 'the server to close');
  t.true(Date.now() - started >= 250, `closed after ${Date.now() - started} ms`);
  t.like(events[1], { type: 'error', reqId: 0, code: 'TIMEOUT' });
  t.is(server.stats.timedOut, 1);
});

test('a server that cannot prove the key is refused: a random AUTH_OK, or our own proof reflected', async (t) => {
  for (const reply of ['random', 'reflect'] as const) {
    const fake = await fakeServer(t, (socket) => {
      socket.write(encodeHello(AuthMode.SwarmKey, randomBytes(32)));
      const parser = new FrameParser({ accept: [FrameType.Auth] });
      socket.on('data', (input: Buffer) =>
        parser.push(input, (e) => {
          if (e.type === 'auth') socket.write(encodeAuthOk(reply === 'random' ? randomBytes(32) : e.mac));
        }),
      );
    });
    const err = await t.throwsAsync(PeerConnection.connect(local(fake.port), connectOpts(KEY)), { instanceOf: AuthFailedError });
    t.regex(err!.message, /did not prove the swarm key/, reply);
  }
});

test('a fetch drops the sources without the key for good and completes from the one with it', async (t) => {
  const file = await sharedFile(t, 2 * 1024 * 1024);
  const stranger = await startServer(t, [file]);
  const impostor = await startServer(t, [file], {}, keyed(OTHER_KEY));
  const friend = await startServer(t, [file], {}, keyed(KEY));
  const partial = await openPartial(t, file);
  const events: string[] = [];
  const outcome = await fetchFile(
    fetchOptions(file, partial, [source('stranger', stranger.port), source('impostor', impostor.port), source('friend', friend.port)], {
      ...keyed(KEY),
      onSourceEvent: (e) => e.kind !== 'chunk' && events.push(`${e.peerId} ${e.kind} ${e.detail ?? ''}`.trim()),
    }),
  );
  t.deepEqual(outcome, { outcome: 'complete' });
  t.is(await joinedSha256(t, partial), sha256(file.data));
  t.true(events.some((e) => /^stranger dropped AUTH_FAILED: .*did not prove the swarm key/.test(e)), events.join('; '));
  t.true(events.some((e) => /^impostor dropped AUTH_FAILED: .*wrong swarm key/.test(e)), events.join('; '));
  t.is(stranger.server.stats.chunks + impostor.server.stats.chunks, 0);
  t.is(impostor.server.stats.authFailed, 1, 'asked once, not again and again');
});

test('without the key, a fetch from keyed sources ends at once with the reason, instead of retrying', async (t) => {
  const file = await sharedFile(t, 4 * CHUNK);
  const { port } = await startServer(t, [file], {}, keyed(KEY));
  const partial = await openPartial(t, file);
  const dropped: string[] = [];
  const started = Date.now();
  const outcome = await fetchFile(fetchOptions(file, partial, [source('locked', port)], { onSourceEvent: (e) => e.kind === 'dropped' && dropped.push(e.detail ?? '') }));
  t.is(outcome.outcome, 'exhausted');
  if (outcome.outcome === 'exhausted') t.regex(outcome.reason, /requires a swarm key/);
  t.is(dropped.length, 1);
  t.true(Date.now() - started < 2000, 'no waiting for timeouts');
});
