// What the chunk server reads with: pooled send buffers (one free list per capacity) and a small
// LRU of open read handles that checks each file's size against its manifest at open.
import { open, type FileHandle } from 'node:fs/promises';
import { IoError } from '../errors.js';
import type { Manifest } from '../store/manifest.js';

/** Free buffers kept per size, in bytes (at least two buffers). */
const POOL_BYTES_PER_SIZE = 64 * 1024 * 1024;

/** What OpenFiles needs of a served file. */
export interface ReadableFile {
  fileId: string;
  path: string;
  manifest: Manifest;
}

/** Reusable send buffers, one free list per capacity (chunk size + header). */
export class BufferPool {
  private readonly free = new Map<number, Buffer[]>();
  constructor(private readonly perSize: number) {}

  acquire(capacity: number): Buffer {
    return this.free.get(capacity)?.pop() ?? Buffer.allocUnsafeSlow(capacity);
  }

  release(buf: Buffer): void {
    let list = this.free.get(buf.length);
    if (!list) {
      // keep only a few sizes around; files with other chunk sizes allocate afresh
      if (this.free.size >= 4) this.free.delete(this.free.keys().next().value!);
      list = [];
      this.free.set(buf.length, list);
    }
    // big chunks: keep fewer, so what the pool holds stays bounded whatever the file size
    if (list.length < Math.min(this.perSize, Math.max(2, Math.floor(POOL_BYTES_PER_SIZE / buf.length)))) list.push(buf);
  }
}

interface OpenFile {
  handle: Promise<FileHandle>;
  users: number;
  /** dropped from the cache after an error; closed when its last user is done */
  dead: boolean;
}

/** A small LRU of open read handles, keyed by fileId and path; checks the size at open. */
export class OpenFiles {
  private readonly entries = new Map<string, OpenFile>();
  constructor(private readonly max: number) {}

  /** Read exactly `length` bytes at `position` into buf[at..]; a short file is an IoError. */
  async read(file: ReadableFile, buf: Buffer, at: number, length: number, position: number): Promise<void> {
    const key = `${file.fileId}\0${file.path}`;
    let entry = this.entries.get(key);
    if (entry) this.entries.delete(key);
    else entry = { handle: openChecked(file), users: 0, dead: false };
    this.entries.set(key, entry);
    entry.users++;
    try {
      const fh = await entry.handle;
      let got = 0;
      while (got < length) {
        const { bytesRead } = await fh.read(buf, at + got, length - got, position + got);
        if (bytesRead === 0) throw new IoError(`${file.path} is shorter than its manifest`);
        got += bytesRead;
      }
    } catch (err) {
      if (this.entries.get(key) === entry) this.entries.delete(key);
      entry.dead = true;
      throw err;
    } finally {
      entry.users--;
      if (entry.dead && entry.users === 0) closeQuietly(entry);
      this.evict();
    }
  }

  private evict(): void {
    for (const [key, entry] of this.entries) {
      if (this.entries.size <= this.max) return;
      if (entry.users > 0) continue;
      this.entries.delete(key);
      closeQuietly(entry);
    }
  }

  async closeAll(): Promise<void> {
    const all = [...this.entries.values()];
    this.entries.clear();
    await Promise.allSettled(all.map((e) => e.handle.then((fh) => fh.close())));
  }
}

function closeQuietly(entry: OpenFile): void {
  entry.handle.then((fh) => fh.close()).catch(() => undefined);
}

async function openChecked(file: ReadableFile): Promise<FileHandle> {
  const fh = await open(file.path, 'r');
  const { size } = await fh.stat();
  if (size !== file.manifest.size) {
    await fh.close();
    throw new IoError(`${file.path} changed on disk (size ${size}, manifest says ${file.manifest.size})`);
  }
  return fh;
}
