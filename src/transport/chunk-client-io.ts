// The chunk client's socket: dialled with node's `onread` on plain TCP (every read lands in one
// reused buffer, handed over before the next read; no per-read allocation), 'data' events under
// TLS; its writes batched per tick (the requests issued in one tick go in one segment); and a
// chunk body's way into its pooled buffer (copied once from the read buffer, hashed as it comes).
import { createHash } from 'node:crypto';
import type { Socket } from 'node:net';
import { chunkBuffers, READ_BUFFER_BYTES } from './chunk-buffers.js';
import { dial } from './dial.js';
import type { PeerConnectionOptions, PendingChunk } from './chunk-client-types.js';

/** Where a connection's reads go: `to` once it is set, kept (copied) until then. */
export interface ReadFeed {
  to?: (input: Buffer) => void;
  early: Buffer[];
}

/**
 * The connected socket and, on plain TCP, the feed its reads come through (the input given to
 * `to` is valid only during that call: it is the reused read buffer). Under TLS no feed: use 'data'.
 */
export async function dialChunkSocket(endpoint: { host: string; port: number }, opts: PeerConnectionOptions): Promise<{ socket: Socket; feed?: ReadFeed }> {
  const tls = opts.security?.tls;
  if (tls) return { socket: await dial(endpoint, { timeoutMs: opts.timeoutMs, tls }) };
  const feed: ReadFeed = { early: [] };
  const onread = {
    buffer: Buffer.allocUnsafe(READ_BUFFER_BYTES),
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
export function readsTo(socket: Socket, feed: ReadFeed | undefined, onData: (input: Buffer) => void): void {
  if (!feed) return void socket.on('data', onData);
  feed.to = onData;
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

/** Copy a slice of the body into its buffer and hash it (the parser checked the length: it fits). */
export function fillBody(p: PendingChunk, data: Buffer): void {
  p.filled += data.copy(p.body!, p.filled);
  p.hash!.update(data);
}

/** The whole body if it hashes to what was expected; undefined (its buffer given back) otherwise. */
export function verifiedBody(p: PendingChunk): Buffer | undefined {
  const body = p.body!;
  p.body = undefined;
  if (p.filled === body.length && p.hash!.digest().equals(p.expectedHash)) return body;
  chunkBuffers.release(body);
  return undefined;
}

/** Give back the buffer of a body no one will take (abandoned, connection gone). */
export function dropBody(p: PendingChunk | undefined): void {
  if (p?.body) chunkBuffers.release(p.body);
  if (p) p.body = undefined;
}
