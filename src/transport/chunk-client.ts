// One TCP connection to one source's chunk server, many requests in flight. Chunk bodies are
// hashed slice by slice as they arrive and handed over as those same slices, never concatenated.
// A request times out when the connection has been silent that long while it was out (so a
// capped source, slow but moving, is not taken for a dead one); a download cap pauses reads.
import { createHash, type Hash } from 'node:crypto';
import { connect as netConnect, type Socket } from 'node:net';
import type { Logger } from 'winston';
import {
  BadRequestError,
  CancelledError,
  ChunkHashMismatchError,
  errorFromCode,
  P2PError,
  PeerTimeoutError,
  PeerUnreachableError,
  ProtocolError,
} from '../errors.js';
import { encodeCancel, encodeGetChunk, encodeGetManifest, FrameParser, FrameType, type FrameEvent } from '../protocol/frames.js';
import { decodeManifest, HASH_BYTES, MAX_CHUNK_SIZE, type Manifest } from '../store/manifest.js';
import type { FairThrottle } from './rate-limit.js';

export interface PeerConnectionOptions {
  /** connect timeout, and how long the connection may stay silent while a request is out */
  timeoutMs: number;
  logger: Logger;
  /** largest chunk this connection will accept (the manifest's chunk size) */
  maxChunkBytes: number;
  /** the peer's download cap, shared by its connections (none: unlimited) */
  throttle?: FairThrottle;
}

interface Waiter<T> {
  reqId: number;
  resolve: (value: T) => void;
  reject: (err: P2PError) => void;
  sentAt: number;
}

interface PendingChunk extends Waiter<Buffer[]> {
  kind: 'chunk';
  index: number;
  expectedLength: number;
  expectedHash: Buffer;
  hash: Hash | undefined;
  slices: Buffer[];
}

interface PendingManifest extends Waiter<Manifest> {
  kind: 'manifest';
  fileId: string;
}

type Pending = PendingChunk | PendingManifest;

/** A pipelined client connection to one chunk server. */
export class PeerConnection {
  private readonly pending = new Map<number, Pending>();
  private readonly parser: FrameParser;
  private readonly log: Logger;
  /** the chunk whose body is streaming now (undefined while skipping an abandoned one) */
  private current: PendingChunk | undefined;
  private nextReqId = 1;
  private corked = false;
  private closedWith: P2PError | undefined;
  /** an ERROR frame with reqId 0: the server's reason for closing (e.g. BUSY) */
  private remoteError: P2PError | undefined;
  /** last time bytes arrived (or our own cap let reads go on) */
  private lastHeard = Date.now();
  private pausedByCap = false;
  private readonly watchdog: NodeJS.Timeout;

  private constructor(
    private readonly socket: Socket,
    private readonly opts: PeerConnectionOptions,
    readonly remote: string,
  ) {
    this.log = opts.logger;
    this.parser = new FrameParser({
      maxChunkBytes: Math.min(opts.maxChunkBytes, MAX_CHUNK_SIZE),
      accept: [FrameType.Chunk, FrameType.Manifest, FrameType.Error],
    });
    socket.on('data', (input: Buffer) => this.onData(input));
    socket.on('error', (err) => this.log.debug('chunk client socket error', { remote, err: err.message }));
    socket.on('close', () => this.failAll(this.remoteError ?? new PeerUnreachableError(`${remote} closed the connection`)));
    this.watchdog = setInterval(() => this.checkSilence(), Math.max(20, Math.min(1000, opts.timeoutMs / 4)));
    this.watchdog.unref();
  }

  /** Connect; PeerTimeoutError or PeerUnreachableError if that does not work within timeoutMs. */
  static connect(endpoint: { host: string; port: number }, opts: PeerConnectionOptions): Promise<PeerConnection> {
    const remote = `${endpoint.host}:${endpoint.port}`;
    return new Promise((resolve, reject) => {
      const socket = netConnect({ host: endpoint.host, port: endpoint.port, noDelay: true });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new PeerTimeoutError(`no connection to ${remote} within ${opts.timeoutMs} ms`));
      }, opts.timeoutMs);
      const onError = (err: Error) => {
        clearTimeout(timer);
        reject(new PeerUnreachableError(`cannot connect to ${remote}: ${err.message}`, { cause: err }));
      };
      socket.once('error', onError);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.off('error', onError);
        resolve(new PeerConnection(socket, opts, remote));
      });
    });
  }

  /** Requests sent and not yet answered, failed or timed out. */
  get inFlight(): number {
    return this.pending.size;
  }

  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  /** The manifest of `fileId`, verified to hash to that id (ManifestMismatchError otherwise). */
  getManifest(fileId: string): Promise<Manifest> {
    return this.request<Manifest>(encodeGetManifest, fileId, (waiter) => ({ ...waiter, kind: 'manifest', fileId }));
  }

  /**
   * One chunk as the socket slices it arrived in; resolves only if their SHA-256 is
   * `expectedHash` (ChunkHashMismatchError otherwise). A body of another length than
   * `expectedLength` is a protocol violation: that request fails and the connection closes.
   */
  getChunk(fileId: string, index: number, expectedLength: number, expectedHash: Buffer, signal?: AbortSignal): Promise<Buffer[]> {
    if (!Number.isInteger(expectedLength) || expectedLength < 0 || expectedLength > this.opts.maxChunkBytes) {
      return Promise.reject(new BadRequestError(`chunk length ${expectedLength} exceeds this connection's limit`));
    }
    if (expectedHash.length !== HASH_BYTES) return Promise.reject(new BadRequestError('expected hash must be 32 bytes'));
    if (signal?.aborted) return Promise.reject(new CancelledError(`request for chunk ${index} cancelled`));
    let reqId = 0;
    const answer = this.request<Buffer[]>(
      (id, file) => encodeGetChunk(id, file, index),
      fileId,
      (waiter) => {
        reqId = waiter.reqId;
        return { ...waiter, kind: 'chunk', index, expectedLength, expectedHash, hash: undefined, slices: [] };
      },
    );
    if (!signal) return answer;
    // cancelled (the endgame got it elsewhere): CANCEL goes to the server, a late body is skipped
    const onAbort = () => this.abandon(reqId, new CancelledError(`request for chunk ${index} cancelled`));
    signal.addEventListener('abort', onAbort, { once: true });
    return answer.finally(() => signal.removeEventListener('abort', onAbort));
  }

  /** Close the connection; everything outstanding fails with PeerUnreachableError. Idempotent. */
  close(): void {
    this.failAll(new PeerUnreachableError(`connection to ${this.remote} closed`));
  }

  private request<T>(encode: (reqId: number, fileId: string) => Buffer, fileId: string, make: (w: Waiter<T>) => Pending): Promise<T> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    const reqId = this.allocReqId();
    let frame: Buffer;
    try {
      frame = encode(reqId, fileId);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<T>((resolve, reject) => {
      this.pending.set(reqId, make({ reqId, resolve, reject, sentAt: Date.now() } as Waiter<T>));
      this.send(frame);
    });
  }

  /** Batch the requests issued in one tick into one segment. */
  private send(frame: Buffer): void {
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    this.socket.write(frame);
  }

  private allocReqId(): number {
    // 0 is reserved for connection-wide errors
    do {
      this.nextReqId = this.nextReqId >= 0xffffffff ? 1 : this.nextReqId + 1;
    } while (this.pending.has(this.nextReqId));
    return this.nextReqId;
  }

  /** Fail requests out while the connection has been silent for timeoutMs. */
  private checkSilence(): void {
    if (this.pausedByCap || this.pending.size === 0) return;
    const now = Date.now();
    for (const p of [...this.pending.values()]) {
      if (now - Math.max(p.sentAt, this.lastHeard) >= this.opts.timeoutMs) {
        this.abandon(p.reqId, new PeerTimeoutError(`${this.remote} sent nothing for ${this.opts.timeoutMs} ms while request ${p.reqId} was out`));
      }
    }
  }

  /** Give up on a request: tell the server (CANCEL), skip the rest of its body if it is streaming. */
  private abandon(reqId: number, err: P2PError): void {
    const p = this.pending.get(reqId);
    if (!p) return;
    this.pending.delete(reqId);
    if (this.current === p) this.current = undefined; // the rest of its body is skipped
    if (!this.closedWith) this.send(encodeCancel(reqId));
    p.reject(err);
  }

  private onData(input: Buffer): void {
    this.lastHeard = Date.now();
    const cap = this.opts.throttle;
    if (cap) {
      const pauseMs = cap.consume(input.length);
      if (pauseMs > 0 && !this.pausedByCap) {
        this.pausedByCap = true;
        this.socket.pause();
        setTimeout(() => {
          this.pausedByCap = false;
          this.lastHeard = Date.now();
          if (!this.closedWith) this.socket.resume();
        }, pauseMs).unref();
      }
    }
    try {
      this.parser.push(input, (event) => this.onFrame(event));
    } catch (err) {
      const e = err instanceof P2PError ? err : new ProtocolError((err as Error).message);
      this.log.warn('bad frame from source, closing connection', { remote: this.remote, err: e.message });
      this.failAll(new PeerUnreachableError(`connection to ${this.remote} closed after a protocol error`, { cause: e }));
    }
  }

  private onFrame(event: FrameEvent): void {
    switch (event.type) {
      case 'chunk-data':
        if (this.current) {
          this.current.hash!.update(event.data);
          this.current.slices.push(event.data);
        }
        return;
      case 'chunk-start':
        return this.startChunk(event.reqId, event.index, event.length);
      case 'chunk-end':
        return this.endChunk();
      case 'manifest': {
        const p = this.take(event.reqId, 'manifest');
        if (!p) return;
        try {
          p.resolve(decodeManifest(event.manifest, p.fileId));
        } catch (err) {
          p.reject(err instanceof P2PError ? err : new ProtocolError((err as Error).message));
        }
        return;
      }
      case 'error': {
        const err = errorFromCode(event.code, event.message);
        if (event.reqId === 0) this.remoteError = err;
        this.take(event.reqId)?.reject(err);
        return;
      }
      default:
        throw new ProtocolError(`unexpected ${event.type} frame from a chunk server`);
    }
  }

  private startChunk(reqId: number, index: number, length: number): void {
    const p = this.pending.get(reqId);
    if (!p) return; // answer to a request we gave up on: its body is skipped
    if (p.kind !== 'chunk' || p.index !== index || length !== p.expectedLength) {
      const err = new ProtocolError(`${this.remote} answered request ${reqId} with chunk ${index} of ${length} bytes`);
      this.take(reqId)?.reject(err);
      throw err;
    }
    p.hash = createHash('sha256');
    this.current = p;
  }

  private endChunk(): void {
    const p = this.current;
    this.current = undefined;
    if (!p || !this.take(p.reqId)) return;
    if (p.hash!.digest().equals(p.expectedHash)) p.resolve(p.slices);
    else p.reject(new ChunkHashMismatchError(`chunk ${p.index} from ${this.remote} does not match its hash`));
  }

  /** Remove and return a pending request (of `kind`, else it is a protocol violation). */
  private take<K extends Pending['kind']>(reqId: number, kind?: K): Extract<Pending, { kind: K }> | undefined {
    const p = this.pending.get(reqId);
    if (!p) return undefined;
    if (kind && p.kind !== kind) throw new ProtocolError(`${this.remote} answered request ${reqId} with the wrong frame`);
    this.pending.delete(reqId);
    return p as Extract<Pending, { kind: K }>;
  }

  private failAll(err: P2PError): void {
    if (!this.closedWith) {
      this.closedWith = err;
      this.socket.destroy();
      clearInterval(this.watchdog);
    }
    const all = [...this.pending.values()];
    this.pending.clear();
    this.current = undefined;
    for (const p of all) p.reject(this.closedWith);
  }
}
