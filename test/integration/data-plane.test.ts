// The data plane over real sockets and real files: ChunkServer, PeerConnection and fetchFile,
// with good, lying, stalling and dying sources, resume, and hostile clients.
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { BadRequestError, BusyError, ChunkHashMismatchError, NotFoundError, PeerUnreachableError, ProtocolError } from '../../src/errors.js';
import type { Source } from '../../src/protocol/messages.js';
import { encodeChunkHeader, encodeManifestFrame, type FrameEvent } from '../../src/protocol/frames.js';
import { chunkLength, encodeManifest, type Manifest } from '../../src/store/manifest.js';
import { PartialDownload } from '../../src/store/partial.js';
import type { ServedFile } from '../../src/transport/chunk-server.js';
import { PeerConnection } from '../../src/transport/chunk-client.js';
import { fetchFile, fetchManifest, type FetchOptions } from '../../src/download/fetch.js';
import { tempDir } from '../helpers/tmp.js';
import {
  CHUNK,
  fetchOptions as sharedFetchOptions,
  logger,
  openPartial,
  sharedFile as sharedFileOf,
  source,
  startServer as startChunkServer,
  scriptedSource,
  withTimeout,
  type SharedFile,
} from '../helpers/chunks.js';

const SIZE = 3 * 1024 * 1024 + 12_345; // 49 chunks, the last one short

const sharedFile = (t: ExecutionContext, size = SIZE) => sharedFileOf(t, size);
const startServer = (t: ExecutionContext, files: ServedFile[], maxConnections = 16) => startChunkServer(t, files, { maxConnections });

const fakeSource = scriptedSource;

/** A port with nothing listening on it. */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** This file's fetches strike a silent source sooner than the shared default. */
const fetchOptions = (file: SharedFile, partial: PartialDownload, sources: Source[], extra: Partial<FetchOptions> = {}): FetchOptions =>
  sharedFetchOptions(file, partial, sources, { chunkTimeoutMs: 2000, ...extra });

async function joined(t: ExecutionContext, partial: PartialDownload): Promise<Buffer> {
  return readFile(await partial.join(await tempDir(t)));
}

/** Answer GET_CHUNK with the right length but wrong bytes. */
function liar(file: SharedFile) {
  return (socket: Socket, e: FrameEvent) => {
    if (e.type !== 'get-chunk') return;
    const length = chunkLength(file.manifest.size, CHUNK, e.index);
    socket.write(Buffer.concat([encodeChunkHeader(e.reqId, e.index, length), randomBytes(length)]));
  };
}

test('a file served by two servers is fetched byte-identical, from both', async (t) => {
  const file = await sharedFile(t);
  const a = await startServer(t, [file]);
  const b = await startServer(t, [file]);
  const partial = await openPartial(t, file);
  const reports: number[] = [];
  const outcome = await fetchFile(
    fetchOptions(file, partial, [source('alice', a.port), source('bob', b.port)], { onProgress: (p) => reports.push(p.verifiedChunks) }),
  );
  t.deepEqual(outcome, { outcome: 'complete' });
  t.true(a.server.stats.chunks > 0 && b.server.stats.chunks > 0, `alice ${a.server.stats.chunks}, bob ${b.server.stats.chunks}`);
  t.is(a.server.stats.chunks + b.server.stats.chunks, file.manifest.hashes.length);
  t.is(reports[reports.length - 1], file.manifest.hashes.length, 'a final progress report');
  t.true((await joined(t, partial)).equals(file.data));
});

test('a source sending wrong bytes is dropped; the file completes from the good one, uncorrupted', async (t) => {
  const file = await sharedFile(t);
  const good = await startServer(t, [file]);
  const bad = await fakeSource(t, liar(file));
  const partial = await openPartial(t, file);
  const events: string[] = [];
  const outcome = await fetchFile(
    fetchOptions(file, partial, [source('mallory', bad.port), source('alice', good.port)], {
      onSourceEvent: (e) => e.kind !== 'chunk' && events.push(`${e.peerId} ${e.kind} ${e.detail ?? ''}`.trim()),
    }),
  );
  t.deepEqual(outcome, { outcome: 'complete' });
  t.true(events.includes('mallory strike CHUNK_HASH_MISMATCH'), events.join('; '));
  t.true(events.some((e) => e.startsWith('mallory dropped')), events.join('; '));
  t.false(events.some((e) => e.startsWith('alice strike') || e.startsWith('alice dropped')));
  t.true((await joined(t, partial)).equals(file.data));
});

test('a source that stalls times out and the file completes from the other', async (t) => {
  const file = await sharedFile(t);
  const good = await startServer(t, [file]);
  const stall = await fakeSource(t, () => undefined);
  const partial = await openPartial(t, file);
  const dropped: string[] = [];
  const outcome = await fetchFile(
    fetchOptions(file, partial, [source('sloth', stall.port), source('alice', good.port)], {
      chunkTimeoutMs: 300,
      onSourceEvent: (e) => e.kind === 'dropped' && dropped.push(e.peerId),
    }),
  );
  t.deepEqual(outcome, { outcome: 'complete' });
  t.deepEqual(dropped, ['sloth']);
  t.true((await joined(t, partial)).equals(file.data));
});

test('all sources dead → exhausted; a later fetch resumes with only the missing chunks', async (t) => {
  const file = await sharedFile(t);
  const chunksDir = join(await tempDir(t), 'chunks');
  // serves 10 chunks correctly, then hangs up (after flushing them) and goes away
  let answered = 0;
  const dying = await fakeSource(t, (socket, e) => {
    if (e.type !== 'get-chunk' || answered > 10) return;
    if (answered++ === 10) {
      dying.stopListening();
      return void socket.end();
    }
    const at = e.index * CHUNK;
    const length = chunkLength(file.manifest.size, CHUNK, e.index);
    socket.write(Buffer.concat([encodeChunkHeader(e.reqId, e.index, length), file.data.subarray(at, at + length)]));
  });
  const first = await PartialDownload.open({ chunksDir, fileId: file.fileId, manifest: file.manifest, name: 'out.bin' });
  const outcome = await fetchFile(fetchOptions(file, first, [source('ghost', await deadPort()), source('dying', dying.port)]));
  t.is(outcome.outcome, 'exhausted');
  const verified = first.verifiedCount();
  t.is(verified, 10);
  await first.close();

  const good = await startServer(t, [file]);
  const second = await openPartial(t, file, chunksDir);
  t.is(second.verifiedCount(), verified, 'the bitfield survived close and reopen');
  t.deepEqual(await fetchFile(fetchOptions(file, second, [source('alice', good.port)])), { outcome: 'complete' });
  t.is(good.server.stats.chunks, file.manifest.hashes.length - verified);
  t.true((await joined(t, second)).equals(file.data));
});

test('no sources at all → exhausted at once', async (t) => {
  const file = await sharedFile(t, 1000);
  const partial = await openPartial(t, file);
  const outcome = await fetchFile(fetchOptions(file, partial, []));
  t.is(outcome.outcome, 'exhausted');
});

test('server: a malformed frame closes that connection only', async (t) => {
  const file = await sharedFile(t);
  const { server, port } = await startServer(t, [file]);
  const good = await PeerConnection.connect({ host: '127.0.0.1', port }, { timeoutMs: 2000, logger, maxChunkBytes: CHUNK });
  t.teardown(() => good.close());
  const [first] = await good.getChunk(file.fileId, 0, CHUNK, file.manifest.hashes[0]!).then((s) => [Buffer.concat(s)]);
  t.true(first!.equals(file.data.subarray(0, CHUNK)));

  const rogue = connect({ host: '127.0.0.1', port });
  t.teardown(() => rogue.destroy());
  await new Promise<void>((resolve) => rogue.once('connect', resolve));
  t.is(server.stats.connections, 2);
  const closed = new Promise<void>((resolve) => rogue.once('close', () => resolve()));
  rogue.on('error', () => undefined);
  rogue.resume(); // read (and drop) the server's HELLO, so its close is seen
  rogue.write(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x02, 1, 2, 3]));
  await withTimeout(closed, 5000, 'the server to close the rogue connection');

  const index = file.manifest.hashes.length - 1;
  const last = await good.getChunk(file.fileId, index, chunkLength(SIZE, CHUNK, index), file.manifest.hashes[index]!);
  t.true(Buffer.concat(last).equals(file.data.subarray(index * CHUNK)));
  t.is(server.stats.connections, 1);
});

test('server: unknown file → NOT_FOUND, bad index → BAD_REQUEST, and the connection stays usable', async (t) => {
  const file = await sharedFile(t);
  const { port } = await startServer(t, [file]);
  const conn = await PeerConnection.connect({ host: '127.0.0.1', port }, { timeoutMs: 2000, logger, maxChunkBytes: CHUNK });
  t.teardown(() => conn.close());
  await t.throwsAsync(conn.getChunk('cd'.repeat(32), 0, CHUNK, file.manifest.hashes[0]!), { instanceOf: NotFoundError });
  await t.throwsAsync(conn.getManifest('cd'.repeat(32)), { instanceOf: NotFoundError });
  await t.throwsAsync(conn.getChunk(file.fileId, 10_000, CHUNK, file.manifest.hashes[0]!), { instanceOf: BadRequestError });
  await t.throwsAsync(conn.getChunk(file.fileId, 1, CHUNK, file.manifest.hashes[0]!), { instanceOf: ChunkHashMismatchError });
  t.deepEqual(await conn.getManifest(file.fileId), file.manifest);
  t.is(conn.inFlight, 0);
});

test('server: over maxConnections a client is told BUSY', async (t) => {
  const file = await sharedFile(t, 1000);
  const { port } = await startServer(t, [file], 1);
  const opts = { timeoutMs: 2000, logger, maxChunkBytes: CHUNK };
  const first = await PeerConnection.connect({ host: '127.0.0.1', port }, opts);
  t.teardown(() => first.close());
  await first.getManifest(file.fileId);
  const second = await PeerConnection.connect({ host: '127.0.0.1', port }, opts);
  t.teardown(() => second.close());
  await t.throwsAsync(second.getManifest(file.fileId), { instanceOf: BusyError });
});

test('client: a chunk of the wrong length fails that request and closes the connection', async (t) => {
  const file = await sharedFile(t);
  const fake = await fakeSource(t, (socket, e) => {
    if (e.type === 'get-chunk') socket.write(Buffer.concat([encodeChunkHeader(e.reqId, e.index, 10), Buffer.alloc(10)]));
  });
  const conn = await PeerConnection.connect({ host: '127.0.0.1', port: fake.port }, { timeoutMs: 2000, logger, maxChunkBytes: CHUNK });
  t.teardown(() => conn.close());
  const wrong = conn.getChunk(file.fileId, 0, CHUNK, file.manifest.hashes[0]!);
  const other = conn.getChunk(file.fileId, 1, CHUNK, file.manifest.hashes[1]!);
  await t.throwsAsync(wrong, { instanceOf: ProtocolError });
  await t.throwsAsync(other, { instanceOf: PeerUnreachableError });
  t.true(conn.closed);
});

test('fetchManifest skips a source that lies about the manifest', async (t) => {
  const file = await sharedFile(t);
  const other: Manifest = { ...file.manifest, hashes: [...file.manifest.hashes.slice(1), randomBytes(32)] };
  const lying = await fakeSource(t, (socket, e) => {
    if (e.type === 'get-manifest') socket.write(encodeManifestFrame(e.reqId, encodeManifest(other)));
  });
  const { port } = await startServer(t, [file]);
  const opts = { timeoutMs: 2000, logger };
  t.deepEqual(await fetchManifest([source('liar', lying.port), source('alice', port)], file.fileId, opts), file.manifest);
  await t.throwsAsync(fetchManifest([source('liar', lying.port)], file.fileId, opts), { instanceOf: NotFoundError });
  await t.throwsAsync(fetchManifest([source('ghost', await deadPort())], file.fileId, opts), { instanceOf: PeerUnreachableError });
});
