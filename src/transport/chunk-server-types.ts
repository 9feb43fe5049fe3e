// The chunk server's shapes: what it serves (ServedFile), its components and options, its
// counters, and its per-connection state.
import type { Socket } from 'node:net';
import type { Logger } from 'winston';
import type { FrameParser } from '../protocol/frames.js';
import type { Manifest } from '../store/manifest.js';
import type { ConnectionGuard } from './connection-guard.js';
import type { FairThrottle } from './rate-limit.js';
import type { ServerSecurity } from './security.js';

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

export interface ChunkJob {
  reqId: number;
  file: ServedFile;
  index: number;
}

export interface Connection {
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
  /** chunk reads made on the event loop (page-cache hits) and through the thread pool, and the times slow reads on the loop sent them there */
  reads: { onLoop: number; inPool: number; slow: number };
}

