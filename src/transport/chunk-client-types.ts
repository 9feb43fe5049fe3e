// The chunk client's shapes: its options and the requests it has out (chunks and manifests),
// kept by a RequestBook with the ids it gave up on.
import type { Hash } from 'node:crypto';
import type { Logger } from 'winston';
import { ProtocolError, type P2PError } from '../errors.js';
import { HASH_BYTES, type Manifest } from '../store/manifest.js';
import { MAX_MANIFEST_BYTES } from '../protocol/frames.js';
import type { FairThrottle } from './rate-limit.js';
import type { ClientSecurity } from './security.js';

/** The slowest rate a source may answer at (bytes/s) before a request's whole-answer deadline passes. */
export const DEFAULT_MIN_RATE_BPS = 16 * 1024;
/** Bytes a manifest answer is budgeted when its size is not known in advance (2 000 chunks). */
const DEFAULT_MANIFEST_BUDGET_BYTES = 64 * 1024;

/** Bytes a manifest answer of `expectedChunks` hashes is budgeted (a default when unknown). */
export function manifestBudgetBytes(expectedChunks?: number): number {
  return expectedChunks !== undefined ? Math.min(MAX_MANIFEST_BYTES, 64 + expectedChunks * HASH_BYTES) : DEFAULT_MANIFEST_BUDGET_BYTES;
}

/**
 * Why request `p` has timed out at `now` (undefined: it has not): the connection silent for
 * timeoutMs while it was out, or its whole answer past its deadline (our own cap's pauses excluded).
 */
export function overdue(p: Pending, now: number, lastHeard: number, pausedTotal: number, timeoutMs: number, remote: string): string | undefined {
  if (now - Math.max(p.sentAt, lastHeard) >= timeoutMs) return `${remote} sent nothing for ${timeoutMs} ms while request ${p.reqId} was out`;
  if (now - (pausedTotal - p.pausedAtSend) >= p.deadline) {
    return `${remote} did not finish answering request ${p.reqId} (${p.bytes} bytes) within ${now - p.sentAt} ms: too slow`;
  }
  return undefined;
}
/** The deadline of a whole answer of `bytes` (with `aheadBytes` asked before it on the connection). */
export function answerDeadlineMs(timeoutMs: number, bytes: number, aheadBytes: number, minRateBps: number): number {
  return timeoutMs + Math.ceil(((bytes + aheadBytes) * 1000) / Math.max(1, minRateBps));
}

export interface PeerConnectionOptions {
  /** connect timeout, and how long the connection may stay silent while a request is out */
  timeoutMs: number;
  /**
   * floor rate (bytes/s): a request whose whole answer takes longer than timeoutMs + its bytes
   * (and those asked before it) at this rate fails with PeerTimeoutError (default 16 KiB/s)
   */
  minRateBps?: number;
  logger: Logger;
  /** largest chunk this connection will accept (the manifest's chunk size) */
  maxChunkBytes: number;
  /** the peer's download cap, shared by its connections (none: unlimited) */
  throttle?: FairThrottle;
  /** the swarm key to prove (and to make the server prove), TLS to connect with */
  security?: ClientSecurity;
}

export interface Waiter<T> {
  reqId: number;
  resolve: (value: T) => void;
  reject: (err: P2PError) => void;
  sentAt: number;
  /** bytes this answer is budgeted */
  bytes: number;
  /** the whole answer must be in by then (ms since epoch, cap pauses excluded: see `pausedAtSend`) */
  deadline: number;
  /** the connection's `pausedTotal` when it was sent */
  pausedAtSend: number;
}

export interface PendingChunk extends Waiter<Buffer[]> {
  kind: 'chunk';
  index: number;
  expectedLength: number;
  expectedHash: Buffer;
  hash: Hash | undefined;
  /** the pooled buffer the body is copied into (from its CHUNK header on) */
  body: Buffer | undefined;
  /** bytes of the body copied so far */
  filled: number;
}

export interface PendingManifest extends Waiter<Manifest> {
  kind: 'manifest';
  fileId: string;
}

export type Pending = PendingChunk | PendingManifest;

/** Abandoned requests remembered, so their late answers are skipped rather than taken for lies. */
const MAX_ABANDONED = 4096;

/** The requests a connection has out, by id, and the ids it gave up on. */
export class RequestBook {
  private readonly pending = new Map<number, Pending>();
  /** requests given up on whose answers may still come (skipped, not protocol errors) */
  private readonly abandoned = new Set<number>();
  private nextReqId = 1;

  constructor(private readonly remote: string) {}

  get size(): number {
    return this.pending.size;
  }

  /** Bytes budgeted for the answers still out (asked before the next request). */
  aheadBytes(): number {
    let ahead = 0;
    for (const p of this.pending.values()) ahead += p.bytes;
    return ahead;
  }

  values(): Pending[] {
    return [...this.pending.values()];
  }

  set(reqId: number, p: Pending): void {
    this.pending.set(reqId, p);
  }

  /** A free request id (0 is reserved for connection-wide errors). */
  alloc(): number {
    do {
      this.nextReqId = this.nextReqId >= 0xffffffff ? 1 : this.nextReqId + 1;
    } while (this.pending.has(this.nextReqId) || this.abandoned.has(this.nextReqId));
    return this.nextReqId;
  }

  /** Give up on a request: remove it, remember its id so a late answer is skipped. */
  abandon(reqId: number): Pending | undefined {
    const p = this.pending.get(reqId);
    if (!p) return undefined;
    this.pending.delete(reqId);
    this.abandoned.add(reqId);
    if (this.abandoned.size > MAX_ABANDONED) this.abandoned.delete(this.abandoned.values().next().value!);
    return p;
  }

  /**
   * The pending request an answer is for; undefined for one we gave up on (skip it). An answer
   * to a request never made is a protocol violation: a source may not feed us unasked bytes.
   */
  answered(reqId: number): Pending | undefined {
    const p = this.pending.get(reqId);
    if (p) return p;
    if (this.abandoned.delete(reqId)) return undefined;
    throw new ProtocolError(`${this.remote} answered request ${reqId}, which was never made`);
  }

  /** Remove and return a pending request (of `kind`, else it is a protocol violation). */
  take<K extends Pending['kind']>(reqId: number, kind?: K): Extract<Pending, { kind: K }> | undefined {
    const p = this.answered(reqId);
    if (!p) return undefined;
    if (kind && p.kind !== kind) throw new ProtocolError(`${this.remote} answered request ${reqId} with the wrong frame`);
    this.pending.delete(reqId);
    return p as Extract<Pending, { kind: K }>;
  }

  /** Remove every pending request and return them. */
  clear(): Pending[] {
    const all = [...this.pending.values()];
    this.pending.clear();
    return all;
  }
}
