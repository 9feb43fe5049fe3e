// Serves chunks (and manifests) of the files `resolve` knows over direct TCP: chunks are read
// into pooled buffers behind their frame header and written with one write, with backpressure.
// Upload slots bound the downloaders served at once (others are told BUSY); an upload cap sends
// chunks in slices as a shared throttle allows, the connections taking turns.
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'winston';
import { toP2PError, type ErrorCode } from '../errors.js';
import { CHUNK_HEADER_BYTES, encodeError, encodeManifestFrame, FrameParser, FrameType, writeChunkHeader, type FrameEvent } from '../protocol/frames.js';
import { chunkLength, encodeManifest, type Manifest } from '../store/manifest.js';
import { BufferPool, OpenFiles } from './file-reads.js';
import type { FairThrottle } from './rate-limit.js';
import { UploadSlots } from './upload-slots.js';

/** Chunk bytes read ahead per connection at most (at least one chunk). */
const READ_AHEAD_BYTES = 32 * 1024 * 1024;
/** Bytes sent per throttle grant under an upload cap. */
const SLICE_BYTES = 64 * 1024;

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
  /** downloaders (connections) served at once, 0 = unlimited (default 0) */
  uploadSlots?: number;
}

export interface ChunkServerComponents {
  logger: Logger;
  resolve: (fileId: string) => ServedFile | undefined;
  /** the peer's upload cap, shared by every connection (none: unlimited) */
  throttle?: FairThrottle;
  now?: () => number;
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
  /** throttled sends go one chunk at a time per connection (slices of two chunks must not mix) */
  sending: Promise<void>;
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
  private readonly throttle: FairThrottle | undefined;
  private readonly slots: UploadSlots;
  private served = { chunks: 0, bytes: 0, busy: 0 };
  private stopped = false;

  constructor(components: ChunkServerComponents, options: ChunkServerOptions) {
    this.log = components.logger.child({ actor: 'chunk-server' });
    this.resolve = components.resolve;
    this.throttle = components.throttle;
    // under a cap, chunks wait for their turn: reading far ahead would only hold memory
    const readAhead = components.throttle ? 2 : 8;
    this.opts = { maxInFlightPerConnection: readAhead, maxQueuedPerConnection: 256, openFiles: 16, uploadSlots: 0, ...options };
    this.slots = new UploadSlots({ max: this.opts.uploadSlots, now: components.now ?? (() => performance.now()) });
    this.pool = new BufferPool(this.opts.maxInFlightPerConnection * 2);
    this.files = new OpenFiles(this.opts.openFiles);
    this.server = createServer({ noDelay: true }, (socket) => this.accept(socket));
  }

  /** Chunks and bytes served so far, requests refused BUSY (no free slot); connections open now. */
  get stats(): { chunks: number; bytes: number; busy: number; connections: number } {
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
      sending: Promise.resolve(),
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
      this.slots.release(conn);
      this.throttle?.forget(conn);
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
    if (!this.slots.ask(conn, () => conn.queue.length > 0 || conn.active > 0)) {
      this.served.busy++;
      return this.sendError(conn, event.reqId, 'BUSY', 'every upload slot is taken, retry later');
    }
    conn.queue.push({ reqId: event.reqId, file, index: event.index });
  }

  private sendError(conn: Connection, reqId: number, code: ErrorCode, message: string): void {
    if (!conn.closed) conn.socket.write(encodeError(reqId, code, message));
  }

  /** Start reads while there is room; stop reading requests while the answers cannot flow. */
  private pump(conn: Connection): void {
    const { socket } = conn;
    while (!conn.closed && conn.queue.length > 0 && conn.active < this.readAhead(conn.queue[0]!) && !socket.writableNeedDrain) {
      conn.active++;
      void this.serveChunk(conn, conn.queue.shift()!);
    }
    if (conn.closed) return;
    const full = conn.queue.length >= this.opts.maxQueuedPerConnection || socket.writableNeedDrain;
    if (full && !socket.isPaused()) socket.pause();
    else if (!full && socket.isPaused()) socket.resume();
  }

  /** Chunks read ahead per connection: the configured count, but at most ~32 MiB of big chunks. */
  private readAhead(job: ChunkJob): number {
    return Math.min(this.opts.maxInFlightPerConnection, Math.max(1, Math.floor(READ_AHEAD_BYTES / job.file.manifest.chunkSize)));
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
      const frame = buf.subarray(0, CHUNK_HEADER_BYTES + length);
      // the buffer goes back to the pool only once the socket is done with it
      const done = () => this.finished(conn, buf);
      if (this.throttle) conn.sending = conn.sending.then(() => this.sendThrottled(conn, frame, done, length));
      else {
        conn.socket.write(frame, done);
        this.served.chunks++;
        this.served.bytes += length;
      }
    } catch (err) {
      const e = toP2PError(err);
      this.log.warn('chunk read failed', { fileId: job.file.fileId, index: job.index, code: e.code, err: e.message });
      this.sendError(conn, job.reqId, 'IO_ERROR', 'cannot read chunk');
    } finally {
      if (!handedOff) this.finished(conn, buf);
    }
  }

  /**
   * Send one chunk frame in slices, each when the shared throttle gives this connection its turn.
   * Never rejects (it is chained per connection); `done` runs exactly once.
   */
  private async sendThrottled(conn: Connection, frame: Buffer, done: () => void, length: number): Promise<void> {
    try {
      for (let at = 0; at < frame.length; at += SLICE_BYTES) {
        const end = Math.min(frame.length, at + SLICE_BYTES);
        await this.throttle!.acquire(conn, end - at);
        if (conn.closed) return done();
        if (end < frame.length) conn.socket.write(frame.subarray(at, end));
        else conn.socket.write(frame.subarray(at, end), done);
      }
      this.served.chunks++;
      this.served.bytes += length;
    } catch (err) {
      // a frame cut short cannot be resumed: the connection goes (the client asks again elsewhere)
      this.log.warn('throttled send failed', { remote: conn.remote, err: (err as Error).message });
      conn.socket.destroy();
      done();
    }
  }

  private finished(conn: Connection, buf: Buffer): void {
    this.pool.release(buf);
    conn.active--;
    this.pump(conn);
  }
}
