// Serves chunks (and manifests) of the files `resolve` knows over direct TCP: chunks are read
// into pooled buffers behind their frame header and written with one write, with backpressure.
import { createServer, type Server, type Socket } from 'node:net';
import { open, type FileHandle } from 'node:fs/promises';
import type { Logger } from 'winston';
import { IoError, toP2PError, type ErrorCode } from '../errors.js';
import { CHUNK_HEADER_BYTES, encodeError, encodeManifestFrame, FrameParser, FrameType, writeChunkHeader, type FrameEvent } from '../protocol/frames.js';
import { chunkLength, encodeManifest, type Manifest } from '../store/manifest.js';

/** A file this peer can serve; `has` limits a partially downloaded file to its verified chunks. */
export interface ServedFile {
  fileId: string;
  path: string;
  manifest: Manifest;
  has?: (index: number) => boolean;
}

export interface ChunkServerOptions {
  host: string;
  /** 0 = any free port */
  port: number;
  maxConnections: number;
  idleTimeoutMs: number;
  /** chunks read or being written per connection (default 8) */
  maxInFlightPerConnection?: number;
  /** queued requests per connection before we stop reading from it (default 256) */
  maxQueuedPerConnection?: number;
  /** open file handles kept (default 16) */
  openFiles?: number;
}

export interface ChunkServerComponents {
  logger: Logger;
  resolve: (fileId: string) => ServedFile | undefined;
}

interface ChunkJob {
  reqId: number;
  file: ServedFile;
  index: number;
}

interface Connection {
  socket: Socket;
  parser: FrameParser;
  queue: ChunkJob[];
  active: number;
  closed: boolean;
  remote: string;
}

/** The data-plane server of one peer. Construct, `start()`, and `stop()` (idempotent). */
export class ChunkServer {
  private readonly log: Logger;
  private readonly resolve: ChunkServerComponents['resolve'];
  private readonly opts: Required<ChunkServerOptions>;
  private readonly server: Server;
  private readonly connections = new Set<Connection>();
  private readonly refused = new Set<Socket>();
  private readonly pool: BufferPool;
  private readonly files: OpenFiles;
  private served = { chunks: 0, bytes: 0 };
  private stopped = false;

  constructor(components: ChunkServerComponents, options: ChunkServerOptions) {
    this.log = components.logger.child({ actor: 'chunk-server' });
    this.resolve = components.resolve;
    this.opts = { maxInFlightPerConnection: 8, maxQueuedPerConnection: 256, openFiles: 16, ...options };
    this.pool = new BufferPool(this.opts.maxInFlightPerConnection * 2);
    this.files = new OpenFiles(this.opts.openFiles);
    this.server = createServer({ noDelay: true }, (socket) => this.accept(socket));
  }

  /** Chunks and bytes served so far; connections open now. */
  get stats(): { chunks: number; bytes: number; connections: number } {
    return { ...this.served, connections: this.connections.size };
  }

  async start(): Promise<{ port: number }> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port, this.opts.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.server.on('error', (err) => this.log.error('chunk server error', { err: err.message }));
    const address = this.server.address();
    const port = typeof address === 'object' && address ? address.port : this.opts.port;
    this.log.info('chunk server listening', { host: this.opts.host, port });
    return { port };
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const conn of this.connections) conn.socket.destroy();
    for (const socket of this.refused) socket.destroy();
    await closed;
    await this.files.closeAll();
    this.log.info('chunk server stopped');
  }

  private accept(socket: Socket): void {
    socket.on('error', (err) => this.log.debug('chunk connection error', { err: err.message }));
    if (this.stopped || this.connections.size >= this.opts.maxConnections) {
      this.log.warn('refusing chunk connection', { remote: socket.remoteAddress, reason: 'busy' });
      this.refused.add(socket);
      socket.on('close', () => this.refused.delete(socket));
      socket.setTimeout(1000, () => socket.destroy());
      socket.end(encodeError(0, 'BUSY', 'too many connections'));
      return;
    }
    const conn: Connection = {
      socket,
      parser: new FrameParser({ accept: [FrameType.GetChunk, FrameType.GetManifest, FrameType.Cancel] }),
      queue: [],
      active: 0,
      closed: false,
      remote: `${socket.remoteAddress}:${socket.remotePort}`,
    };
    this.connections.add(conn);
    socket.setTimeout(this.opts.idleTimeoutMs, () => {
      this.log.debug('closing idle chunk connection', { remote: conn.remote });
      socket.destroy();
    });
    socket.on('close', () => {
      conn.closed = true;
      conn.queue.length = 0;
      this.connections.delete(conn);
    });
    socket.on('drain', () => this.pump(conn));
    socket.on('data', (input: Buffer) => {
      try {
        conn.parser.push(input, (event) => this.onFrame(conn, event));
      } catch (err) {
        this.log.warn('bad frame, closing connection', { remote: conn.remote, err: (err as Error).message });
        socket.destroy();
        return;
      }
      this.pump(conn);
    });
  }

  private onFrame(conn: Connection, event: FrameEvent): void {
    if (event.type === 'cancel') {
      const at = conn.queue.findIndex((job) => job.reqId === event.reqId);
      if (at >= 0) conn.queue.splice(at, 1);
      return;
    }
    if (event.type !== 'get-chunk' && event.type !== 'get-manifest') return;
    let file: ServedFile | undefined;
    try {
      file = this.resolve(event.fileId);
    } catch (err) {
      this.log.error('resolve failed', { fileId: event.fileId, err: (err as Error).message });
      return this.sendError(conn, event.reqId, 'INTERNAL', 'cannot look up file');
    }
    if (!file) return this.sendError(conn, event.reqId, 'NOT_FOUND', 'unknown file');
    if (event.type === 'get-manifest') {
      conn.socket.write(encodeManifestFrame(event.reqId, encodeManifest(file.manifest)));
      return;
    }
    if (event.index >= file.manifest.hashes.length) return this.sendError(conn, event.reqId, 'BAD_REQUEST', 'chunk index out of range');
    if (file.has && !file.has(event.index)) return this.sendError(conn, event.reqId, 'NOT_FOUND', 'chunk not available yet');
    conn.queue.push({ reqId: event.reqId, file, index: event.index });
  }

  private sendError(conn: Connection, reqId: number, code: ErrorCode, message: string): void {
    if (!conn.closed) conn.socket.write(encodeError(reqId, code, message));
  }

  /** Start reads while there is room; stop reading requests while the answers cannot flow. */
  private pump(conn: Connection): void {
    const { socket } = conn;
    while (!conn.closed && conn.queue.length > 0 && conn.active < this.opts.maxInFlightPerConnection && !socket.writableNeedDrain) {
      conn.active++;
      void this.serveChunk(conn, conn.queue.shift()!);
    }
    if (conn.closed) return;
    const full = conn.queue.length >= this.opts.maxQueuedPerConnection || socket.writableNeedDrain;
    if (full && !socket.isPaused()) socket.pause();
    else if (!full && socket.isPaused()) socket.resume();
  }

  private async serveChunk(conn: Connection, job: ChunkJob): Promise<void> {
    const { manifest } = job.file;
    const length = chunkLength(manifest.size, manifest.chunkSize, job.index);
    const buf = this.pool.acquire(CHUNK_HEADER_BYTES + manifest.chunkSize);
    let handedOff = false;
    try {
      await this.files.read(job.file, buf, CHUNK_HEADER_BYTES, length, job.index * manifest.chunkSize);
      if (conn.closed) return;
      writeChunkHeader(buf, job.reqId, job.index, length);
      handedOff = true;
      // the buffer goes back to the pool only once the socket is done with it
      conn.socket.write(buf.subarray(0, CHUNK_HEADER_BYTES + length), () => this.finished(conn, buf));
      this.served.chunks++;
      this.served.bytes += length;
    } catch (err) {
      const e = toP2PError(err);
      this.log.warn('chunk read failed', { fileId: job.file.fileId, index: job.index, code: e.code, err: e.message });
      this.sendError(conn, job.reqId, 'IO_ERROR', 'cannot read chunk');
    } finally {
      if (!handedOff) this.finished(conn, buf);
    }
  }

  private finished(conn: Connection, buf: Buffer): void {
    this.pool.release(buf);
    conn.active--;
    this.pump(conn);
  }
}

/** Reusable send buffers, one free list per capacity (chunk size + header). */
class BufferPool {
  private readonly free = new Map<number, Buffer[]>();
  constructor(private readonly perSize: number) {}

  acquire(capacity: number): Buffer {
    return this.free.get(capacity)?.pop() ?? Buffer.allocUnsafeSlow(capacity);
  }

  release(buf: Buffer): void {
    let list = this.free.get(buf.length);
    if (!list) {
      // keep only a few sizes around; files with other chunk sizes allocate afresh
      if (this.free.size >= 4) this.free.delete(this.free.keys().next().value!);
      list = [];
      this.free.set(buf.length, list);
    }
    if (list.length < this.perSize) list.push(buf);
  }
}

interface OpenFile {
  handle: Promise<FileHandle>;
  users: number;
  /** dropped from the cache after an error; closed when its last user is done */
  dead: boolean;
}

/** A small LRU of open read handles, keyed by fileId and path; checks the size at open. */
class OpenFiles {
  private readonly entries = new Map<string, OpenFile>();
  constructor(private readonly max: number) {}

  /** Read exactly `length` bytes at `position` into buf[at..]; a short file is an IoError. */
  async read(file: ServedFile, buf: Buffer, at: number, length: number, position: number): Promise<void> {
    const key = `${file.fileId}\0${file.path}`;
    let entry = this.entries.get(key);
    if (entry) this.entries.delete(key);
    else entry = { handle: openChecked(file), users: 0, dead: false };
    this.entries.set(key, entry);
    entry.users++;
    try {
      const fh = await entry.handle;
      let got = 0;
      while (got < length) {
        const { bytesRead } = await fh.read(buf, at + got, length - got, position + got);
        if (bytesRead === 0) throw new IoError(`${file.path} is shorter than its manifest`);
        got += bytesRead;
      }
    } catch (err) {
      if (this.entries.get(key) === entry) this.entries.delete(key);
      entry.dead = true;
      throw err;
    } finally {
      entry.users--;
      if (entry.dead && entry.users === 0) closeQuietly(entry);
      this.evict();
    }
  }

  private evict(): void {
    for (const [key, entry] of this.entries) {
      if (this.entries.size <= this.max) return;
      if (entry.users > 0) continue;
      this.entries.delete(key);
      closeQuietly(entry);
    }
  }

  async closeAll(): Promise<void> {
    const all = [...this.entries.values()];
    this.entries.clear();
    await Promise.allSettled(all.map((e) => e.handle.then((fh) => fh.close())));
  }
}

function closeQuietly(entry: OpenFile): void {
  entry.handle.then((fh) => fh.close()).catch(() => undefined);
}

async function openChecked(file: ServedFile): Promise<FileHandle> {
  const fh = await open(file.path, 'r');
  const { size } = await fh.stat();
  if (size !== file.manifest.size) {
    await fh.close();
    throw new IoError(`${file.path} changed on disk (size ${size}, manifest says ${file.manifest.size})`);
  }
  return fh;
}
