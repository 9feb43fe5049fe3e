// What the chunk server reads with: pooled send buffers (one free list per capacity) and a small
// LRU of open read handles that checks each file's size against its manifest at open. A chunk in
// the page cache is read on the event loop: the copy costs the same, and the thread pool's hop
// (a pool thread woken, its completion signalled back: about three context switches per chunk)
// is saved. Slow reads, three in a row, send the reads to the pool for a while (ReadPace below):
// a read is slow when it kept the loop off the CPUs (a disk's wait; one alone may be this thread
// preempted on a busy machine), not when it ran long on one. The process's CPU clock (getrusage:
// ~12 µs a reading here, 0.05 s per GiB served if read around every read) is read only around the
// reads after one that was slow by the wall clock.
import { readSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { IoError } from '../errors.js';
import type { Manifest } from '../store/manifest.js';

/** Free buffers kept per size, in bytes (at least two buffers). */
const POOL_BYTES_PER_SIZE = 64 * 1024 * 1024;
/** A read on the event loop may keep it off the CPUs this long, plus READ_NS_PER_BYTE per byte, and count as a cache hit. */
const HOT_READ_MS = 5;
/** 1 ns a byte (1 GB/s): the page cache copies at several GB/s here, a disk seeks for milliseconds. */
const READ_NS_PER_BYTE = 1;
/** Slow reads on the event loop in a row that send the reads to the pool (one alone may be a preemption). */
const SLOW_IN_A_ROW = 3;
/** Reads then go to the thread pool this long; one more slow read on the loop after it sends them back. */
const COLD_BACKOFF_MS = 5_000;

/** How OpenFiles reads: on the event loop while reads are cache hits (and the clock it judges by). */
export interface ReadOptions {
  /** false: always through the thread pool (default true) */
  onLoop?: boolean;
  now?: () => number;
  /** this process's CPU milliseconds so far, every thread (default: process.cpuUsage()) */
  cpuMs?: () => number;
  /** told when slow reads send the reads to the pool (the milliseconds the last one kept the loop off the CPUs) */
  onSlow?: (ms: number) => void;
}

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
  private readonly now: () => number;
  private readonly onLoop: boolean;
  private readonly onSlow: ((ms: number) => void) | undefined;
  private readonly pace: ReadPace;
  /** reads made on the event loop and through the pool, and the times a run of slow reads sent them to the pool */
  readonly counts = { onLoop: 0, inPool: 0, slow: 0 };

  constructor(
    private readonly max: number,
    options: ReadOptions = {},
  ) {
    this.now = options.now ?? (() => performance.now());
    this.pace = new ReadPace(options.cpuMs ?? processCpuMs);
    this.onLoop = options.onLoop ?? true;
    this.onSlow = options.onSlow;
  }

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
      const started = this.now();
      const onLoop = this.onLoop && this.pace.allowsLoop(started);
      const cpuBefore = onLoop ? this.pace.cpuBefore() : undefined;
      let got = 0;
      while (got < length) {
        const bytesRead = onLoop ? readSync(fh.fd, buf, at + got, length - got, position + got) : (await fh.read(buf, at + got, length - got, position + got)).bytesRead;
        if (bytesRead === 0) throw new IoError(`${file.path} is shorter than its manifest`);
        got += bytesRead;
      }
      if (onLoop) {
        this.counts.onLoop++;
        const waited = this.pace.fellBack(started, this.now(), length, cpuBefore);
        if (waited !== undefined) {
          this.counts.slow++;
          this.onSlow?.(waited);
        }
      } else this.counts.inPool++;
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

/**
 * The rule that sends reads on the event loop to the thread pool: three reads in a row that kept
 * the loop off the CPUs (a disk's wait, or a run queue's) send them there for COLD_BACKOFF_MS. Time
 * on a CPU (first touches of a new buffer on this VM, the copy) is no sign of a disk. The CPU clock
 * is read only around the reads after one slow by the wall clock: the first slow read counts as a
 * wait by its wall time, the next are judged by their time off the CPUs.
 */
class ReadPace {
  /** reads go to the thread pool until then */
  private poolUntil = -Infinity;
  /** slow reads on the loop since the last fast one */
  private slowInARow = 0;
  /** the last read on the loop was slow by the wall clock: the next ones are judged by their CPU time too */
  private judgeCpu = false;

  constructor(private readonly cpuMs: () => number) {}

  /** Whether a read starting at `now` may run on the event loop. */
  allowsLoop(now: number): boolean {
    return now >= this.poolUntil;
  }

  /** The CPU clock before a read on the loop, when that read is to be judged by it. */
  cpuBefore(): number | undefined {
    return this.judgeCpu ? this.cpuMs() : undefined;
  }

  /** A read on the loop is done: the milliseconds it waited when it sends the reads to the pool, else undefined. */
  fellBack(started: number, ended: number, length: number, cpuBefore: number | undefined): number | undefined {
    const limit = HOT_READ_MS + (length * READ_NS_PER_BYTE) / 1e6;
    const wall = ended - started;
    const waited = cpuBefore === undefined ? wall : wall - (this.cpuMs() - cpuBefore);
    this.judgeCpu = wall > limit;
    if (waited <= limit) {
      this.slowInARow = 0;
      return undefined;
    }
    if (++this.slowInARow < SLOW_IN_A_ROW) return undefined;
    this.poolUntil = ended + COLD_BACKOFF_MS;
    return waited;
  }
}

function processCpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
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
