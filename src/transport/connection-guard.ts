// The guard on each chunk-server connection, pure (the clock is passed in): the swarm-key
// handshake (HELLO with our nonce, the client's AUTH checked in constant time, our AUTH_OK), the
// deadline on frames (a trickling client is cut off however slowly its bytes come), and the
// verdict on idle connections and clients that do not read their answers.
import type { FrameEvent } from '../protocol/frames.js';
import { AuthMode, encodeAuthOk, encodeHello } from '../protocol/frames.js';
import { clientProof, macEquals, newNonce, serverProof } from './swarm-auth.js';

/** Timing limits of a guard. */
export interface GuardLimits {
  frameTimeoutMs: number;
  idleTimeoutMs: number;
}

/** Why a connection must go: a frame (or the handshake) late, answers not read, or idle. */
export type GuardVerdict = 'timeout' | 'stalled' | 'idle';

/** The guard state of one connection. */
export class ConnectionGuard {
  /** 'tls': TLS handshake under way; 'auth': HELLO sent, AUTH awaited; 'open': requests served */
  phase: 'tls' | 'auth' | 'open';
  private nonce: Buffer | undefined;
  private requests = 0;
  /** the frame under way (or the next one, on a new connection) must be complete by then */
  private deadline: number | undefined;
  private lastRequestAt: number;
  private stalledSince: number | undefined;

  constructor(
    private readonly limits: GuardLimits,
    private readonly swarmKey: Buffer | undefined,
    now: number,
    tls: boolean,
  ) {
    this.phase = tls ? 'tls' : 'auth';
    // the handshake counts: a new connection's first frame is due within the frame timeout
    this.deadline = now + limits.frameTimeoutMs;
    this.lastRequestAt = now;
  }

  /** The HELLO to send once the connection is up (after TLS): open, or our nonce to prove the key against. */
  hello(): Buffer {
    if (!this.swarmKey) {
      this.phase = 'open';
      return encodeHello(AuthMode.Open);
    }
    this.phase = 'auth';
    this.nonce = newNonce();
    return encodeHello(AuthMode.SwarmKey, this.nonce);
  }

  /** Check an AUTH: our AUTH_OK (the connection is open now), or undefined for a wrong key. */
  authenticate(event: Extract<FrameEvent, { type: 'auth' }>): Buffer | undefined {
    if (this.phase !== 'auth' || !this.swarmKey || !this.nonce) return undefined;
    if (!macEquals(event.mac, clientProof(this.swarmKey, this.nonce, event.nonce))) return undefined;
    const ok = encodeAuthOk(serverProof(this.swarmKey, this.nonce, event.nonce));
    this.phase = 'open';
    this.nonce = undefined;
    return ok;
  }

  /** A request (chunk or manifest) arrived. */
  requested(): void {
    this.requests++;
  }

  /** After input: `completed` frames were whole in it; `midFrame` if one is left incomplete. */
  afterInput(completed: boolean, midFrame: boolean, now: number): void {
    if (completed) this.lastRequestAt = now;
    if (midFrame) {
      // a frame has begun: its deadline runs from its first byte, not from the latest one
      if (completed || this.deadline === undefined) this.deadline = now + this.limits.frameTimeoutMs;
    } else if (completed) {
      // in the handshake, or through it without a request yet: the next frame is due in time too
      this.deadline = this.phase !== 'open' || this.requests === 0 ? now + this.limits.frameTimeoutMs : undefined;
    }
  }

  /** We paused reading (our backpressure): the frame deadline restarts when reading resumes. */
  resumed(midFrame: boolean, now: number): void {
    if (midFrame) this.deadline = now + this.limits.frameTimeoutMs;
  }

  /** The socket drained: the client reads its answers. */
  drained(): void {
    this.stalledSince = undefined;
  }

  /**
   * Whether the connection must go now. `paused`: we stopped reading it (its deadline waits);
   * `needDrain`: its answers are not being read; `working`: requests queued or being sent.
   */
  verdict(now: number, state: { paused: boolean; needDrain: boolean; working: boolean }): GuardVerdict | undefined {
    if (state.needDrain) this.stalledSince ??= now;
    else this.stalledSince = undefined;
    if (this.deadline !== undefined && now >= this.deadline && !state.paused) return 'timeout';
    if (this.stalledSince !== undefined && now - this.stalledSince >= this.limits.idleTimeoutMs) return 'stalled';
    if (this.deadline === undefined && !state.working && now - this.lastRequestAt >= this.limits.idleTimeoutMs) return 'idle';
    return undefined;
  }
}
