// How the chunk server answers chunk requests on one connection: reads start while there is
// room (bounded read-ahead), answers go out with backpressure, and under an upload cap in slices
// as the shared throttle gives this connection its turn. Pooled buffers go back when sent.
import type { Logger } from 'winston';
import { toP2PError, type ErrorCode } from '../errors.js';
import { CHUNK_HEADER_BYTES, writeChunkHeader } from '../protocol/frames.js';
import { chunkLength } from '../store/manifest.js';
import type { ChunkJob, ChunkServerOptions, Connection } from './chunk-server-types.js';
import type { BufferPool, OpenFiles } from './file-reads.js';
import type { FairThrottle } from './rate-limit.js';

/** Chunk bytes read ahead per connection at most (at least one chunk). */
const READ_AHEAD_BYTES = 32 * 1024 * 1024;
/** Bytes sent per throttle grant under an upload cap. */
const SLICE_BYTES = 64 * 1024;
/**
 * Where a chunk's data starts in its send buffer (its frame header just before it). Not right
 * after a header at the buffer's start: the kernel's copy from the page cache costs 2.4 × the CPU
 * here into a destination 16–31 bytes past a page boundary (6 × at 1–15), and a pooled buffer
 * fresh from mmap starts 16 bytes past one, so a 13-byte header at its start put every chunk read
 * into it at byte 29 (bench/micro/copy-offset.ts; bench/README.md, "Where a chunk lands in its
 * send buffer"). A buffer from the heap starts anywhere: 64 is as good as any offset there.
 */
export const CHUNK_DATA_AT = 64;

/** What the sender shares with its server. */
export interface ChunkSenderContext {
  log: Logger;
  pool: BufferPool;
  files: OpenFiles;
  throttle: FairThrottle | undefined;
  /** the server's counters (chunks and bytes are counted here) */
  served: { chunks: number; bytes: number };
  now: () => number;
  opts: Required<ChunkServerOptions>;
  sendError: (conn: Connection, reqId: number, code: ErrorCode, message: string) => void;
}

export class ChunkSender {
  constructor(private readonly c: ChunkSenderContext) {}

  /** Start reads while there is room; stop reading requests while the answers cannot flow. */
  pump(conn: Connection): void {
    const { socket } = conn;
    while (!conn.closed && conn.queue.length > 0 && conn.active < this.readAhead(conn.queue[0]!) && !socket.writableNeedDrain) {
      conn.active++;
      void this.serveChunk(conn, conn.queue.shift()!);
    }
    if (conn.closed) return;
    const full = conn.queue.length >= this.c.opts.maxQueuedPerConnection || socket.writableNeedDrain;
    if (full && !socket.isPaused()) socket.pause();
    else if (!full && socket.isPaused()) {
      socket.resume();
      conn.guard.resumed(conn.parser.midFrame, this.c.now());
    }
  }

  /** Chunks read ahead per connection: the configured count, but at most ~32 MiB of big chunks. */
  private readAhead(job: ChunkJob): number {
    return Math.min(this.c.opts.maxInFlightPerConnection, Math.max(1, Math.floor(READ_AHEAD_BYTES / job.file.manifest.chunkSize)));
  }

  private async serveChunk(conn: Connection, job: ChunkJob): Promise<void> {
    const { manifest } = job.file;
    const length = chunkLength(manifest.size, manifest.chunkSize, job.index);
    const buf = this.c.pool.acquire(CHUNK_DATA_AT + manifest.chunkSize);
    let handedOff = false;
    try {
      await this.c.files.read(job.file, buf, CHUNK_DATA_AT, length, job.index * manifest.chunkSize);
      if (conn.closed) return;
      const frame = buf.subarray(CHUNK_DATA_AT - CHUNK_HEADER_BYTES, CHUNK_DATA_AT + length);
      writeChunkHeader(frame, job.reqId, job.index, length);
      handedOff = true;
      // the buffer goes back to the pool only once the socket is done with it
      const done = () => this.finished(conn, buf);
      if (this.c.throttle) conn.sending = conn.sending.then(() => this.sendThrottled(conn, frame, done, length));
      else {
        conn.socket.write(frame, done);
        this.c.served.chunks++;
        this.c.served.bytes += length;
      }
    } catch (err) {
      const e = toP2PError(err);
      this.c.log.warn('chunk read failed', { fileId: job.file.fileId, index: job.index, code: e.code, err: e.message });
      this.c.sendError(conn, job.reqId, 'IO_ERROR', 'cannot read chunk');
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
        await this.c.throttle!.acquire(conn, end - at);
        if (conn.closed) return done();
        if (end < frame.length) conn.socket.write(frame.subarray(at, end));
        else conn.socket.write(frame.subarray(at, end), done);
      }
      this.c.served.chunks++;
      this.c.served.bytes += length;
    } catch (err) {
      // a frame cut short cannot be resumed: the connection goes (the client asks again elsewhere)
      this.c.log.warn('throttled send failed', { remote: conn.remote, err: (err as Error).message });
      conn.socket.destroy();
      done();
    }
  }

  private finished(conn: Connection, buf: Buffer): void {
    this.c.pool.release(buf);
    conn.active--;
    this.pump(conn);
  }
}
