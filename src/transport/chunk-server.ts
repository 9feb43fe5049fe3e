// Serves chunks (and manifests) of the files `resolve` knows over direct TCP (optionally TLS):
// chunks are read into pooled buffers behind their frame header and written with one write, with
// backpressure. Upload slots bound the downloaders served at once (others are told BUSY); an
// upload cap sends chunks in slices as a shared throttle allows, the connections taking turns.
// Guards: connection caps (total and per address), an optional swarm-key handshake, a deadline
// on every frame (so a trickling client is cut off) and an idle timeout.
import { createServer, type Server, type Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { Logger } from 'winston';
import { ProtocolError, toP2PError, type ErrorCode } from '../errors.js';
import { CHUNK_HEADER_BYTES, encodeError, encodeManifestFrame, FrameParser, FrameType, writeChunkHeader, type FrameEvent } from '../protocol/frames.js';
import { chunkLength, encodeManifest, type Manifest } from '../store/manifest.js';
import { ConnectionCaps, remoteAddressOf } from './admission.js';
import { ConnectionGuard } from './connection-guard.js';
import { BufferPool, OpenFiles } from './file-reads.js';
import type { FairThrottle } from './rate-limit.js';
import type { ServerSecurity } from './security.js';
import { UploadSlots } from './upload-slots.js';

/** Chunk bytes read ahead per connection at most (at least one chunk). */
const READ_AHEAD_BYTES = 32 * 1024 * 1024;
/** Bytes sent per throttle grant under an upload cap. */
const SLICE_BYTES = 64 * 1024;
/** A connection closed with an ERROR frame is destroyed after this long whatever the client does. */
const CLOSE_LINGER_MS = 1000;

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
  /** connections from one remote address at once (default 32) */
  maxConnectionsPerAddress?: number;
  /** a connection that has made no request for this long (and has nothing under way) is closed */
  idleTimeoutMs: number;
  /**
   * a frame must be complete within this long of its first byte; a new connection's first frame
   * (the AUTH of the handshake, else its first request) within this long of the accept, and the
   * first request within this long of the handshake (default 10 000)
   */
  frameTimeoutMs?: number;
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
  /** a swarm key to require, a TLS identity to serve with (none: open, plain TCP) */
  security?: ServerSecurity;
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
  /** told why it is closed (an ERROR with reqId 0): its input is ignored from then on */
  closing: boolean;
  remote: string;
  /** handshake, frame deadlines, idle and stall verdicts */
  guard: ConnectionGuard;
  /** throttled sends go one chunk at a time per connection (slices of two chunks must not mix) */
  sending: Promise<void>;
}

/** Counters of a chunk server (since start) and the connections open now. */
export interface ChunkServerStats {
  chunks: number;
  bytes: number;
  /** requests refused BUSY (no free upload slot) */
  busy: number;
  connections: number;
  /** connections refused over maxConnections or maxConnectionsPerAddress */
  refused: number;
  /** connections that failed the swarm-key handshake (or skipped it) */
  authFailed: number;
  /** connections closed because a frame (or the handshake) was not complete in time */
  timedOut: number;
  /** connections closed idle, or stalled (not reading their answers) */
  idleClosed: number;
}

/** The data-plane server of one peer. Construct, `start()`, and `stop()` (idempotent). */
export class ChunkServer {
  private readonly log: Logger;
  private readonly resolve: ChunkServerComponents['resolve'];
  private readonly opts: Required<ChunkServerOptions>;
  private readonly server: Server;
  private readonly connections = new Set<Connection>();
  private readonly caps: ConnectionCaps;
  private readonly pool: BufferPool;
  private readonly files: OpenFiles;
  private readonly throttle: FairThrottle | undefined;
  private readonly security: ServerSecurity;
  private readonly slots: UploadSlots;
  private readonly now: () => number;
  private served = { chunks: 0, bytes: 0, busy: 0, authFailed: 0, timedOut: 0, idleClosed: 0 };
  private sweeper: NodeJS.Timeout | undefined;
  private lastRefusalLog = { at: -Infinity, count: 0 };
  private stopped = false;

  constructor(components: ChunkServerComponents, options: ChunkServerOptions) {
    this.log = components.logger.child({ actor: 'chunk-server' });
    this.resolve = components.resolve;
    this.throttle = components.throttle;
    this.security = components.security ?? {};
    this.now = components.now ?? (() => performance.now());
    // under a cap, chunks wait for their turn: reading far ahead would only hold memory
    const readAhead = components.throttle ? 2 : 8;
    this.opts = {
      maxInFlightPerConnection: readAhead,
      maxQueuedPerConnection: 256,
      openFiles: 16,
      uploadSlots: 0,
      maxConnectionsPerAddress: 32,
      frameTimeoutMs: 10_000,
      ...options,
    };
    this.caps = new ConnectionCaps(this.opts);
    this.slots = new UploadSlots({ max: this.opts.uploadSlots, now: this.now });
    this.pool = new BufferPool(this.opts.maxInFlightPerConnection * 2);
    this.files = new OpenFiles(this.opts.openFiles);
    this.server = createServer({ noDelay: true }, (socket) => this.accept(socket));
  }

  /** What the server has done so far, and the connections open now. */
  get stats(): ChunkServerStats {
    return { ...this.served, connections: this.connections.size, refused: this.caps.refusedCount };
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
    // one sweep for every connection's deadlines: no timer churn on the request path
    const every = Math.max(25, Math.min(1000, Math.min(this.opts.frameTimeoutMs, this.opts.idleTimeoutMs) / 4));
    this.sweeper = setInterval(() => this.sweep(), every);
    this.sweeper.unref();
    this.log.info('chunk server listening', {
      host: this.opts.host,
      port,
      tls: Boolean(this.security.tls),
      swarmKey: Boolean(this.security.swarmKey),
    });
    return { port };
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.sweeper);
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const conn of this.connections) conn.socket.destroy();
    this.caps.destroyRefusing();
    await closed;
    await this.files.closeAll();
    this.log.info('chunk server stopped');
  }

  private accept(raw: Socket): void {
    raw.on('error', (err) => this.log.debug('chunk connection error', { err: err.message }));
    const address = remoteAddressOf(raw);
    const refusal = this.stopped ? 'stopping' : this.caps.refusal(address);
    if (refusal) return this.refuse(raw, address, refusal);
    const release = this.caps.take(address);
    const { tls } = this.security;
    const socket = tls ? new TLSSocket(raw, { isServer: true, secureContext: tls }) : raw;
    const conn: Connection = {
      socket,
      parser: new FrameParser({ accept: [FrameType.Auth, FrameType.GetChunk, FrameType.GetManifest, FrameType.Cancel] }),
      queue: [],
      active: 0,
      closed: false,
      closing: false,
      remote: `${raw.remoteAddress}:${raw.remotePort}`,
      guard: new ConnectionGuard(this.opts, this.security.swarmKey, this.now(), Boolean(tls)),
      sending: Promise.resolve(),
    };
    this.connections.add(conn);
    const onClose = () => {
      if (conn.closed) return;
      conn.closed = true;
      conn.queue.length = 0;
      this.connections.delete(conn);
      release();
      this.slots.release(conn);
      this.throttle?.forget(conn);
    };
    raw.on('close', onClose);
    if (tls) {
      socket.on('error', (err) => {
        this.log.debug('chunk connection TLS error', { remote: conn.remote, err: err.message });
        socket.destroy();
      });
      socket.on('close', onClose);
      socket.once('secure', () => this.greet(conn));
    } else {
      this.greet(conn);
    }
    socket.on('drain', () => {
      conn.guard.drained();
      this.pump(conn);
    });
    socket.on('data', (input: Buffer) => this.onData(conn, input));
  }

  private refuse(raw: Socket, address: string, reason: string): void {
    this.caps.refuse(raw, reason, this.security.tls);
    // one warning per 10 s at most, whoever floods us
    const now = this.now();
    this.lastRefusalLog.count++;
    if (now - this.lastRefusalLog.at >= 10_000) {
      this.log.warn('refusing chunk connections', { address, reason, refusedSinceLastWarning: this.lastRefusalLog.count });
      this.lastRefusalLog = { at: now, count: 0 };
    }
  }

  /** The first frame: HELLO says whether the swarm key must be proved (and carries our nonce). */
  private greet(conn: Connection): void {
    if (!conn.closed) conn.socket.write(conn.guard.hello());
  }

  private onData(conn: Connection, input: Buffer): void {
    if (conn.closing || conn.closed) return;
    let completed = false;
    try {
      conn.parser.push(input, (event) => {
        completed = true;
        this.onFrame(conn, event);
      });
    } catch (err) {
      this.log.warn('bad frame, closing connection', { remote: conn.remote, err: (err as Error).message });
      conn.socket.destroy();
      return;
    }
    conn.guard.afterInput(completed, conn.parser.midFrame, this.now());
    this.pump(conn);
  }

  /** Close a connection gracefully, telling it why (ERROR with reqId 0); its input is ignored meanwhile. */
  private shut(conn: Connection, code: ErrorCode, message: string): void {
    if (conn.closing || conn.closed) return;
    conn.closing = true;
    conn.queue.length = 0;
    conn.socket.end(encodeError(0, code, message));
    setTimeout(() => conn.socket.destroy(), CLOSE_LINGER_MS).unref();
  }

  /** Connections past their frame deadline, idle past the idle timeout, or not reading their answers. */
  private sweep(): void {
    const now = this.now();
    for (const conn of this.connections) {
      if (conn.closing || conn.closed) continue;
      const { socket } = conn;
      const verdict = conn.guard.verdict(now, { paused: socket.isPaused(), needDrain: socket.writableNeedDrain, working: conn.queue.length > 0 || conn.active > 0 });
      if (verdict === 'timeout') {
        this.served.timedOut++;
        this.log.debug('closing chunk connection: frame not complete in time', { remote: conn.remote, phase: conn.guard.phase });
        const what = conn.guard.phase === 'open' ? 'frame' : 'handshake';
        this.shut(conn, 'TIMEOUT', `no complete ${what} within ${this.opts.frameTimeoutMs} ms`);
      } else if (verdict) {
        this.served.idleClosed++;
        this.log.debug(verdict === 'idle' ? 'closing idle chunk connection' : 'closing chunk connection: answers not read', { remote: conn.remote });
        // idle: TIMEOUT tells the client it was closed for quiet, not for a fault (it may reconnect)
        if (verdict === 'stalled') socket.destroy();
        else this.shut(conn, 'TIMEOUT', `no request for ${this.opts.idleTimeoutMs} ms`);
      }
    }
  }

  /** AUTH: check the client's proof in constant time; answer with ours, or AUTH_FAILED and close. */
  private authenticate(conn: Connection, event: Extract<FrameEvent, { type: 'auth' }>): void {
    const ok = conn.guard.authenticate(event);
    if (ok) return void conn.socket.write(ok);
    this.served.authFailed++;
    this.log.warn('swarm key handshake failed', { remote: conn.remote });
    this.shut(conn, 'AUTH_FAILED', 'wrong swarm key');
  }

  private onFrame(conn: Connection, event: FrameEvent): void {
    if (conn.closing) return;
    if (conn.guard.phase !== 'open') {
      if (event.type === 'auth') return this.authenticate(conn, event);
      this.served.authFailed++;
      return this.shut(conn, 'AUTH_FAILED', 'this peer requires a swarm key: prove it (AUTH) before asking');
    }
    if (event.type === 'auth') throw new ProtocolError('AUTH on a connection that needs none (or already sent it)');
    if (event.type === 'get-chunk' || event.type === 'get-manifest') conn.guard.requested();
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
    else if (!full && socket.isPaused()) {
      socket.resume();
      conn.guard.resumed(conn.parser.midFrame, this.now());
    }
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
