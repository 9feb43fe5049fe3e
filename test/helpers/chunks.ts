// Data-plane test helpers: a shared file on disk with its manifest, a real ChunkServer, a fake
// source (a plain net.Server the test scripts byte by byte), fetch options and latches. Every
// server, socket and file is gone after the test (t.teardown), pass or fail.
import type { ExecutionContext } from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { createLogger } from '../../src/logger.js';
import type { Source } from '../../src/protocol/messages.js';
import { FrameParser, FrameType, type FrameEvent } from '../../src/protocol/frames.js';
import { fileIdOf, hashFile } from '../../src/store/manifest.js';
import { PartialDownload } from '../../src/store/partial.js';
import { ChunkServer, type ChunkServerComponents, type ChunkServerOptions, type ServedFile } from '../../src/transport/chunk-server.js';
import type { FetchOptions } from '../../src/download/fetch.js';
import { tempDir } from './tmp.js';
import type { Teardown } from './scope.js';

export const logger = createLogger({ level: 'silent' });
export const CHUNK = 64 * 1024;

/** A file on disk and what a server needs to serve it. */
export interface SharedFile extends ServedFile {
  data: Buffer;
}

export async function sharedFile(t: ExecutionContext, size: number): Promise<SharedFile> {
  const dir = await tempDir(t);
  const data = randomBytes(size);
  const path = join(dir, 'shared.bin');
  await writeFile(path, data);
  const manifest = await hashFile(path, CHUNK);
  return { fileId: fileIdOf(manifest), path, manifest, data };
}

/** A real chunk server for `files` on 127.0.0.1 (options and components may be overridden). */
export async function startServer(
  t: ExecutionContext,
  files: ServedFile[],
  options: Partial<ChunkServerOptions> = {},
  components: Partial<ChunkServerComponents> = {},
): Promise<{ server: ChunkServer; port: number }> {
  const byId = new Map(files.map((f) => [f.fileId, f]));
  const server = new ChunkServer(
    { logger, resolve: (id) => byId.get(id), ...components },
    { host: '127.0.0.1', port: 0, maxConnections: 16, idleTimeoutMs: 30_000, ...options },
  );
  t.teardown(() => server.stop());
  const { port } = await server.start();
  return { server, port };
}

/** A fake source: `onConnection` scripts each accepted socket; it counts sockets accepted and gone. */
export async function fakeServer(
  t: Teardown,
  onConnection: (socket: Socket) => void,
): Promise<{ port: number; accepted: () => number; closed: () => number; stopListening: () => void }> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  let closed = 0;
  const server = createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      sockets.delete(socket);
      closed++;
    });
    onConnection(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.close();
    for (const s of sockets) s.destroy();
  });
  return { port: (server.address() as { port: number }).port, accepted: () => accepted, closed: () => closed, stopListening: () => server.close() };
}

export const source = (peerId: string, port: number, host = '127.0.0.1'): Source => ({ peerId, endpoint: { host, port } });

/** Open the download of `file` (in a fresh temp dir unless `chunksDir` is given, e.g. to resume). */
export async function openPartial(t: ExecutionContext, file: SharedFile, chunksDir?: string): Promise<PartialDownload> {
  const partial = await PartialDownload.open({ chunksDir: chunksDir ?? join(await tempDir(t), 'chunks'), fileId: file.fileId, manifest: file.manifest, name: 'out.bin' });
  t.teardown(() => partial.close().catch(() => undefined));
  return partial;
}

export function fetchOptions(file: SharedFile, partial: PartialDownload, sources: Source[], extra: Partial<FetchOptions> = {}): FetchOptions {
  return {
    fileId: file.fileId,
    manifest: file.manifest,
    sources,
    partial,
    pipeline: 4,
    chunkTimeoutMs: 3000,
    maxStrikes: 2,
    progressMs: 50,
    logger,
    signal: new AbortController().signal,
    onProgress: () => undefined,
    ...extra,
  };
}

/** The SHA-256 of the joined download (hex). */
export async function joinedSha256(t: ExecutionContext, partial: PartialDownload): Promise<string> {
  return createHash('sha256').update(await readFile(await partial.join(await tempDir(t)))).digest('hex');
}

export const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** `promise`, or a rejection naming `what` after `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Poll `check` every 10 ms until it is true; reject naming `what` after `ms`. */
export async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A fake source that parses requests and lets `answer` reply (or misbehave, or stay silent). */
export function scriptedSource(t: Teardown, answer: (socket: Socket, e: FrameEvent) => void) {
  return fakeServer(t, (socket) => {
    const parser = new FrameParser({ accept: [FrameType.GetChunk, FrameType.GetManifest, FrameType.Cancel] });
    socket.on('data', (input: Buffer) => {
      try {
        parser.push(input, (e) => answer(socket, e));
      } catch {
        socket.destroy();
      }
    });
  });
}
