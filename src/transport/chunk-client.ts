// One TCP connection to one source's chunk server, many requests in flight. Each chunk body is
// copied once from the socket's reused read buffer into its own pooled buffer and hashed as it
// arrives, on this thread (chunk-client-io.ts), then handed over whole; `release` gives it back.
// A request times out when the connection has been silent that long while it was out, and in any
// case when its whole answer has not come by a deadline scaled to its size (and to the bytes asked
// before it on this connection) at a floor rate: a source trickling bytes is as dead as a silent
// one. Time our own download cap holds reads paused does not count against the source.
// With a swarm key, `connect` resolves only once both sides have proved it (once per connection).
import type { Socket } from 'node:net';
import type { Logger } from 'winston';
import { AuthFailedError, BadRequestError, CancelledError, ChunkHashMismatchError, errorFromCode, P2PError, PeerTimeoutError, PeerUnreachableError, ProtocolError } from '../errors.js';
import { AuthMode, encodeCancel, encodeGetChunk, encodeGetManifest, FrameParser, FrameType, type FrameEvent } from '../protocol/frames.js';
import { decodeManifest, HASH_BYTES, MAX_CHUNK_SIZE, type Manifest } from '../store/manifest.js';
import { chunkBuffers } from './chunk-buffers.js';
import { beginBody, CAPPED_READ_BYTES, dialChunkSocket, dropBody, fillBody, readsTo, readTarget, TickBatcher, verifiedBody, type ReadFeed } from './chunk-client-io.js';
import { answerHello, macEquals, serverProof } from './swarm-auth.js';
import { answerDeadlineMs, DEFAULT_MIN_RATE_BPS, manifestBudgetBytes, overdue, RequestBook, type Pending, type PendingChunk, type PeerConnectionOptions, type Waiter } from './chunk-client-types.js';

export { answerDeadlineMs, DEFAULT_MIN_RATE_BPS, type PeerConnectionOptions } from './chunk-client-types.js';

/** A pipelined client connection to one chunk server. */
export class PeerConnection {
  private readonly pending: RequestBook;
  private readonly parser: FrameParser;
  private readonly log: Logger;
  /** the chunk whose body is streaming now (undefined while skipping an abandoned one) */
  private current: PendingChunk | undefined;
  private readonly out: TickBatcher;
  private closedWith: P2PError | undefined;
  /** 'hello': the server's HELLO awaited (swarm key); 'auth-ok': its proof awaited; 'open' */
  private phase: 'hello' | 'auth-ok' | 'open';
  private heardFrame = false;
  private helloSeen = false;
  private nonces: { server: Buffer; client: Buffer } | undefined;
  private handshake: { resolve: () => void; reject: (err: P2PError) => void } | undefined;
  /** last time bytes arrived (or our own cap let reads go on) */
  private lastHeard = Date.now();
  private pausedByCap = false;
  /** ms our own cap has held reads paused since the connection opened */
  private pausedTotal = 0;
  private readonly watchdog: NodeJS.Timeout;

  private constructor(
    private readonly socket: Socket,
    private readonly opts: PeerConnectionOptions,
    readonly remote: string,
    feed: ReadFeed | undefined,
  ) {
    this.log = opts.logger;
    this.out = new TickBatcher(socket);
    this.pending = new RequestBook(remote);
    this.phase = opts.security?.swarmKey ? 'hello' : 'open';
    this.parser = new FrameParser({
      maxChunkBytes: Math.min(opts.maxChunkBytes, MAX_CHUNK_SIZE),
      accept: [FrameType.Hello, FrameType.AuthOk, FrameType.Chunk, FrameType.Manifest, FrameType.Error],
    });
    const maxRead = opts.throttle ? CAPPED_READ_BYTES : Infinity;
    readsTo(socket, feed, (input) => this.onData(input), (reused) => readTarget(this.current, this.parser, reused, this.pending.size > 0, maxRead));
    socket.on('error', (err) => this.log.debug('chunk client socket error', { remote, err: err.message }));
    socket.on('close', () =>
      this.failAll(new PeerUnreachableError(`${remote} closed the connection${this.phase === 'open' ? '' : ' during the swarm-key handshake'}`)),
    );
    this.watchdog = setInterval(() => this.checkSilence(), Math.max(20, Math.min(1000, opts.timeoutMs / 4)));
    this.watchdog.unref();
  }

  /**
   * Connect (with TLS when `security.tls`), and with a swarm key prove it and check the server's
   * proof before resolving. PeerTimeoutError or PeerUnreachableError if that does not work within
   * timeoutMs; AuthFailedError when the server wants a key we lack, or does not prove ours.
   */
  static async connect(endpoint: { host: string; port: number }, opts: PeerConnectionOptions): Promise<PeerConnection> {
    const remote = `${endpoint.host}:${endpoint.port}`;
    const { socket, feed } = await dialChunkSocket(endpoint, opts);
    const conn = new PeerConnection(socket, opts, remote, feed);
    if (conn.phase !== 'open') await conn.authenticated(opts.timeoutMs);
    return conn;
  }

  private authenticated(timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const late = () => this.failAll(new PeerTimeoutError(`${this.remote} did not complete the swarm-key handshake within ${timeoutMs} ms`));
      const timer = setTimeout(late, timeoutMs);
      this.handshake = { resolve: () => (clearTimeout(timer), resolve()), reject: (err) => (clearTimeout(timer), reject(err)) };
    });
  }

  /** Requests sent and not yet answered, failed or timed out. */
  get inFlight(): number {
    return this.pending.size;
  }

  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  /** Why the connection closed (undefined while open). */
  get closeReason(): P2PError | undefined {
    return this.closedWith;
  }

  /** The manifest of `fileId`, verified to hash to that id (ManifestMismatchError otherwise). */
  getManifest(fileId: string, expectedChunks?: number): Promise<Manifest> {
    return this.request<Manifest>(encodeGetManifest, fileId, manifestBudgetBytes(expectedChunks), (waiter) => ({ ...waiter, kind: 'manifest', fileId }));
  }

  /**
   * One chunk, in one pooled buffer (give it back with `release`); resolves only if its SHA-256 is
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
      expectedLength,
      (waiter) => {
        reqId = waiter.reqId;
        return { ...waiter, kind: 'chunk', index, expectedLength, expectedHash, hash: undefined, body: undefined, filled: 0 };
      },
    );
    if (!signal) return answer;
    // cancelled (the endgame got it elsewhere): CANCEL goes to the server, a late body is skipped
    const onAbort = () => this.abandon(reqId, new CancelledError(`request for chunk ${index} cancelled`));
    signal.addEventListener('abort', onAbort, { once: true });
    return answer.finally(() => signal.removeEventListener('abort', onAbort));
  }

  /** Give back the buffers of a chunk `getChunk` resolved with, once they are written (or not needed). */
  release(slices: Buffer[]): void {
    for (const s of slices) chunkBuffers.release(s);
  }

  /** Close the connection; everything outstanding fails with PeerUnreachableError. Idempotent. */
  close(): void {
    this.failAll(new PeerUnreachableError(`connection to ${this.remote} closed`));
  }

  private request<T>(encode: (reqId: number, fileId: string) => Buffer, fileId: string, bytes: number, make: (w: Waiter<T>) => Pending): Promise<T> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    const reqId = this.pending.alloc();
    return new Promise<T>((resolve, reject) => {
      const frame = encode(reqId, fileId); // a bad request (thrown here) rejects before anything is sent
      const sentAt = Date.now();
      const deadline = sentAt + answerDeadlineMs(this.opts.timeoutMs, bytes, this.pending.aheadBytes(), this.opts.minRateBps ?? DEFAULT_MIN_RATE_BPS);
      this.pending.set(reqId, make({ reqId, resolve, reject, sentAt, bytes, deadline, pausedAtSend: this.pausedTotal } as Waiter<T>));
      this.out.write(frame);
    });
  }

  /** Fail requests out while the connection has been silent for timeoutMs, or past their whole-answer deadline. */
  private checkSilence(): void {
    if (this.pausedByCap || this.pending.size === 0) return;
    const now = Date.now();
    for (const p of this.pending.values()) {
      const why = overdue(p, now, this.lastHeard, this.pausedTotal, this.opts.timeoutMs, this.remote);
      if (why) this.abandon(p.reqId, new PeerTimeoutError(why));
    }
  }

  /** Give up on a request: tell the server (CANCEL), skip the rest of its body if it is streaming. */
  private abandon(reqId: number, err: P2PError): void {
    const p = this.pending.abandon(reqId);
    if (!p) return;
    if (this.current === p) {
      dropBody(p, false); // the rest of its body is skipped
      this.current = undefined;
    }
    if (!this.closedWith) this.out.write(encodeCancel(reqId));
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
        const pausedAt = Date.now();
        setTimeout(() => {
          this.pausedByCap = false;
          this.pausedTotal += Date.now() - pausedAt;
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
    if (this.closedWith) return; // the rest of an input that closed the connection
    if (event.type === 'hello') return this.onHello(event);
    if (event.type === 'auth-ok') return this.onAuthOk(event);
    this.heardFrame = true;
    if (event.type === 'error' && event.reqId === 0) {
      // about the whole connection (BUSY, AUTH_FAILED, TIMEOUT): the server closes it
      return this.failAll(errorFromCode(event.code, `${this.remote} closed the connection: ${event.message}`));
    }
    if (this.phase !== 'open') throw new ProtocolError(`${this.remote} sent ${event.type} before the swarm-key handshake`);
    switch (event.type) {
      case 'chunk-data':
        if (this.current) fillBody(this.current, event.data);
        return;
      case 'chunk-start':
        return this.startChunk(event.reqId, event.index, event.length);
      case 'chunk-end':
        return this.endChunk();
      case 'manifest': {
        const p = this.pending.take(event.reqId, 'manifest');
        if (!p) return;
        try {
          p.resolve(decodeManifest(event.manifest, p.fileId));
        } catch (err) {
          p.reject(err instanceof P2PError ? err : new ProtocolError((err as Error).message));
        }
        return;
      }
      case 'error':
        this.pending.take(event.reqId)?.reject(errorFromCode(event.code, event.message));
        return;
      default:
        throw new ProtocolError(`unexpected ${event.type} frame from a chunk server`);
    }
  }

  /** HELLO, the server's first frame: whether it wants the swarm key, and its nonce. */
  private onHello(event: Extract<FrameEvent, { type: 'hello' }>): void {
    if (this.helloSeen || this.heardFrame) throw new ProtocolError(`${this.remote} sent HELLO out of place`);
    this.helloSeen = true;
    const answer = answerHello(this.opts.security?.swarmKey, event.mode === AuthMode.SwarmKey, event.nonce, this.remote);
    if (answer instanceof AuthFailedError) return this.failAll(answer);
    if (!answer) return;
    this.nonces = answer.nonces;
    this.phase = 'auth-ok';
    this.out.write(answer.frame);
  }

  /** AUTH_OK: the server's proof that it holds the key too (constant-time check). */
  private onAuthOk(event: Extract<FrameEvent, { type: 'auth-ok' }>): void {
    if (this.phase !== 'auth-ok' || !this.nonces) throw new ProtocolError(`${this.remote} sent AUTH_OK out of place`);
    const expected = serverProof(this.opts.security!.swarmKey!, this.nonces.server, this.nonces.client);
    if (!macEquals(event.mac, expected)) return this.failAll(new AuthFailedError(`${this.remote} did not prove the swarm key`));
    this.phase = 'open';
    this.nonces = undefined;
    this.handshake?.resolve();
    this.handshake = undefined;
  }

  private startChunk(reqId: number, index: number, length: number): void {
    const p = this.pending.answered(reqId);
    if (!p) return; // answer to a request we gave up on: its body is skipped
    if (p.kind !== 'chunk' || p.index !== index || length !== p.expectedLength) {
      const err = new ProtocolError(`${this.remote} answered request ${reqId} with chunk ${index} of ${length} bytes`);
      this.pending.take(reqId)?.reject(err);
      throw err;
    }
    beginBody(p, this.opts.maxChunkBytes, length);
    this.current = p;
  }

  private endChunk(): void {
    const p = this.current;
    this.current = undefined;
    if (!p) return;
    if (!this.pending.take(p.reqId)) return dropBody(p, true);
    const body = verifiedBody(p);
    if (body) p.resolve([body]);
    else p.reject(new ChunkHashMismatchError(`chunk ${p.index} from ${this.remote} does not match its hash`));
  }

  private failAll(err: P2PError): void {
    if (!this.closedWith) {
      this.closedWith = err;
      this.socket.destroy();
      clearInterval(this.watchdog);
    }
    const all = this.pending.clear();
    dropBody(this.current, false);
    this.current = undefined;
    for (const p of all) p.reject(this.closedWith);
    this.handshake?.reject(this.closedWith);
    this.handshake = undefined;
  }
}
