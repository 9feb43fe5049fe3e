// Serves chunks (and manifests) of the files `resolve` knows over direct TCP (optionally TLS):
// chunks are read into pooled buffers behind their frame header and written with one write, with
// backpressure. Upload slots bound the downloaders served at once (others are told BUSY); an
// upload cap sends chunks in slices as a shared throttle allows, the connections taking turns.
// Guards: connection caps (total and per address), an optional swarm-key handshake, a deadline
// on every frame (so a trickling client is cut off) and an idle timeout.
import { createServer, type Server, type Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { Logger } from 'winston';
import { ProtocolError, type ErrorCode } from '../errors.js';
import { encodeError, encodeManifestFrame, FrameParser, FrameType, type FrameEvent } from '../protocol/frames.js';
import { encodeManifest } from '../store/manifest.js';
import { ConnectionCaps, remoteAddressOf } from './admission.js';
import { ConnectionGuard } from './connection-guard.js';
import { BufferPool, OpenFiles } from './file-reads.js';
import type { FairThrottle } from './rate-limit.js';
import type { ServerSecurity } from './security.js';
import { UploadSlots } from './upload-slots.js';
import { ChunkSender } from './chunk-sender.js';
import type { ChunkServerComponents, ChunkServerOptions, ChunkServerStats, Connection, ServedFile } from './chunk-server-types.js';

export type { ChunkServerComponents, ChunkServerOptions, ChunkServerStats, ServedFile } from './chunk-server-types.js';

/** A connection closed with an ERROR frame is destroyed after this long whatever the client does. */
const CLOSE_LINGER_MS = 1000;

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
  private readonly sender: ChunkSender;
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
    this.files = new OpenFiles(this.opts.openFiles, {
      onSlow: (ms) => this.log.info('chunk reads are slow (not the page cache?): reading through the thread pool for a while', { lastReadWaitedMs: Math.round(ms * 10) / 10 }),
    });
    this.sender = new ChunkSender({ log: this.log, pool: this.pool, files: this.files, throttle: this.throttle, served: this.served, now: this.now, opts: this.opts, sendError: (c, r, code, m) => this.sendError(c, r, code, m) });
    this.server = createServer({ noDelay: true }, (socket) => this.accept(socket));
  }

  /** What the server has done so far, and the connections open now. */
  get stats(): ChunkServerStats {
    return { ...this.served, connections: this.connections.size, refused: this.caps.refusedCount, reads: { ...this.files.counts } };
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
      this.sender.pump(conn);
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
    this.sender.pump(conn);
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
}
