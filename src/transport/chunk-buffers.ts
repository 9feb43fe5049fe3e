// Where chunk bodies land on the receiving side: one contiguous buffer per chunk (its own
// ArrayBuffer, so it could be transferred), taken from a bounded pool and given back once the
// chunk is written. The socket reads into one small reused buffer per connection and the body is
// copied once from there into its chunk buffer: no per-read allocation, no garbage proportional
// to the bytes received, and what a download holds is bounded by the chunks it has out.

/** Free chunk buffers kept for reuse, in bytes, across every connection of the process. */
export const DEFAULT_POOL_BYTES = 24 * 1024 * 1024;
/** Bytes of the buffer a plain TCP chunk connection reads into (reused for every read). */
export const READ_BUFFER_BYTES = 256 * 1024;

/** Chunk buffers by capacity, reused; a buffer is handed out to one owner at a time. */
export class ChunkBufferPool {
  private readonly free = new Map<number, ArrayBuffer[]>();
  /** the backing stores handed out and not yet given back (a second release is ignored) */
  private readonly out = new WeakSet<ArrayBufferLike>();
  private kept = 0;

  constructor(private readonly maxKeptBytes = DEFAULT_POOL_BYTES) {}

  /** Bytes held free in the pool now. */
  get keptBytes(): number {
    return this.kept;
  }

  /** A buffer of `length` bytes (contents undefined) backed by a store of `capacity` bytes. */
  acquire(capacity: number, length = capacity): Buffer {
    if (!Number.isInteger(capacity) || capacity < 1 || length > capacity || length < 0) throw new RangeError(`bad chunk buffer size ${length}/${capacity}`);
    let store = this.free.get(capacity)?.pop();
    if (store) this.kept -= capacity;
    else store = Buffer.allocUnsafeSlow(capacity).buffer as ArrayBuffer;
    this.out.add(store);
    return Buffer.from(store, 0, length);
  }

  /** Give back a buffer from `acquire` (any view of it); anything else, or a second release, is ignored. */
  release(buf: Buffer): void {
    const store = buf.buffer;
    if (!this.out.has(store)) return;
    this.out.delete(store);
    const capacity = store.byteLength;
    if (this.kept + capacity > this.maxKeptBytes) return; // left to the GC
    let list = this.free.get(capacity);
    if (!list) {
      // a few capacities at most (one per chunk size in use); an old one goes
      if (this.free.size >= 4) {
        const [old, stores] = this.free.entries().next().value!;
        this.kept -= old * stores.length;
        this.free.delete(old);
      }
      list = [];
      this.free.set(capacity, list);
    }
    list.push(store as ArrayBuffer);
    this.kept += capacity;
  }
}

/** The process's pool, shared by every chunk connection. */
export const chunkBuffers = new ChunkBufferPool();
