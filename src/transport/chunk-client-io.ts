// The chunk client's socket: dialled with node's `onread` on plain TCP, 'data' events under TLS;
// its writes batched per tick (the requests issued in one tick go in one segment); and a chunk
// body's way into its pooled buffer, hashed as it comes. On plain TCP the connection chooses where
// each read lands (`ReadFeed.target`, asked after every read): inside a chunk body, straight into
// that chunk's buffer (no copy at all); a header, just its bytes; else one reused buffer (copied
// from). No per-read allocation either way.
import { createHash } from 'node:crypto';
import type { Socket } from 'node:net';
import { chunkBuffers, READ_BUFFER_BYTES } from './chunk-buffers.js';
import { dial } from './dial.js';
import type { PeerConnectionOptions, PendingChunk } from './chunk-client-types.js';

/** Where a connection's reads go: `to` once it is set, kept (copied) until then. */
export interface ReadFeed {
  to?: (input: Buffer) => void;
  /** where the next read should land (undefined: all of `reused`) */
  target?: () => Uint8Array | undefined;
  /** the connection's reused read buffer */
  reused: Buffer;
  early: Buffer[];
}

/**
 * The connected socket and, on plain TCP, the feed its reads come through (the input given to
 * `to` is valid only during that call: it is the reused read buffer). Under TLS no feed: use 'data'.
 */
export async function dialChunkSocket(endpoint: { host: string; port: number }, opts: PeerConnectionOptions): Promise<{ socket: Socket; feed?: ReadFeed }> {
  const tls = opts.security?.tls;
  if (tls) return { socket: await dial(endpoint, { timeoutMs: opts.timeoutMs, tls }) };
  const feed: ReadFeed = { early: [], reused: Buffer.allocUnsafe(READ_BUFFER_BYTES) };
  const onread = {
    buffer: () => feed.target?.() ?? feed.reused,
    callback: (bytes: number, buf: Uint8Array) => {
      const input = Buffer.from(buf.buffer, buf.byteOffset, bytes);
      if (feed.to) feed.to(input);
      else feed.early.push(Buffer.from(input)); // before the connection exists: a copy
      return true;
    },
  };
  return { socket: await dial(endpoint, { timeoutMs: opts.timeoutMs, onread }), feed };
}

/** Send the socket's reads to `onData`: through the feed (reused buffer, valid during the call only), or 'data' events. */
export function readsTo(socket: Socket, feed: ReadFeed | undefined, onData: (input: Buffer) => void, target: (reused: Buffer) => Uint8Array | undefined): void {
  if (!feed) return void socket.on('data', onData);
  feed.to = onData;
  feed.target = () => target(feed.reused);
  for (const early of feed.early.splice(0)) onData(early);
}

/** Writes to `socket` corked until the end of the tick: the requests of one tick in one segment. */
export class TickBatcher {
  private corked = false;
  constructor(private readonly socket: Socket) {}

  write(frame: Buffer): void {
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
}

/** Start receiving `p`'s body: a fresh hash, a pooled buffer of `length` bytes (of `capacity`). */
export function beginBody(p: PendingChunk, capacity: number, length: number): void {
  p.hash = createHash('sha256');
  p.body = chunkBuffers.acquire(capacity, length);
  p.filled = 0;
}

/** A slice of the body: copied into its buffer unless it was read there in place; hashed (the parser checked the length: it fits). */
export function fillBody(p: PendingChunk, data: Buffer): void {
  const body = p.body!;
  if (data.buffer === body.buffer && data.byteOffset === body.byteOffset + p.filled) p.filled += data.length;
  else p.filled += data.copy(body, p.filled);
  p.hash!.update(data);
}

/** Bytes read at most at once under a download cap, so the cap's pauses stay short and the rate smooth. */
export const CAPPED_READ_BYTES = 64 * 1024;

/**
 * Where the next read of a connection should land: the rest of the streaming body, or just a
 * header's bytes when chunks are expected; at most `maxRead` bytes (undefined: all of `reused`).
 */
export function readTarget(
  current: PendingChunk | undefined,
  parser: { bodyRemaining: number; headWanted: number },
  reused: Buffer,
  expecting: boolean,
  maxRead = Infinity,
): Uint8Array | undefined {
  const rest = parser.bodyRemaining;
  if (current?.body && rest > 0) return current.body.subarray(current.filled, current.filled + Math.min(rest, maxRead));
  const head = parser.headWanted;
  if (expecting && head > 0) return reused.subarray(0, head);
  return maxRead < reused.length ? reused.subarray(0, maxRead) : undefined;
}

/** The whole body if it hashes to what was expected; undefined (its buffer given back) otherwise. */
export function verifiedBody(p: PendingChunk): Buffer | undefined {
  const body = p.body!;
  p.body = undefined;
  if (p.filled === body.length && p.hash!.digest().equals(p.expectedHash)) return body;
  chunkBuffers.release(body);
  return undefined;
}

/**
 * Forget the buffer of a body no one will take. One still streaming may be where the next read
 * lands (`readTarget`): it is left to the GC, never pooled again (`reuse` false).
 */
export function dropBody(p: PendingChunk | undefined, reuse: boolean): void {
  if (p?.body && reuse) chunkBuffers.release(p.body);
  if (p) p.body = undefined;
}
