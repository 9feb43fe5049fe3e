// Early write-back of a part file. The page cache holds what a download wrote until the kernel's
// flusher gets to it (after 30 s, or past the dirty thresholds: several GiB on a big machine), so
// without this the final fsync at join wrote most of the file at once and the download waited for
// the disk at its very end (1 GiB: 0.65 s of a 3.3 s download here). A background fdatasync each
// `every` bytes keeps the disk busy while chunks arrive; the writes never wait for it, one runs at
// a time, and join's fsync finds little left (bench/README.md, "Syncing while downloading").
import type { FileHandle } from 'node:fs/promises';
import { toP2PError } from '../errors.js';

/** The default of `download.syncEveryBytes` (config/default.json says the same). */
export const SYNC_EVERY_BYTES = 64 * 1024 * 1024;

export class Writeback {
  private since = 0;
  private running: Promise<void> | undefined;
  private failure: unknown;
  /** background syncs started (tests, and the bench's curiosity) */
  started = 0;

  constructor(
    private readonly fh: FileHandle,
    /** bytes written between two background syncs; 0: none (the file is synced at join only) */
    private readonly every: number,
  ) {}

  /** `bytes` more are in the page cache: start a background sync once `every` have piled up since the last, unless one runs. */
  wrote(bytes: number): void {
    this.since += bytes;
    if (this.every <= 0 || this.since < this.every || this.running || this.failure !== undefined) return;
    this.since = 0;
    this.started++;
    this.running = this.fh
      .datasync()
      .catch((err: unknown) => {
        // a disk that fails at write-back (EIO, or ENOSPC with delayed allocation) fails the join
        this.failure = err;
      })
      .finally(() => {
        this.running = undefined;
      });
  }

  /**
   * Throw what a background sync failed with, if one did: the download stops at its next write
   * instead of fetching the rest of the file for a join that must fail (the error stays for join).
   */
  check(): void {
    if (this.failure !== undefined) throw toP2PError(this.failure);
  }

  /** The whole file to the disk (join): after the sync under way, which throws what a background sync failed with. */
  async syncAll(): Promise<void> {
    await this.running;
    // reported once: the kernel tells one fsync of an error at write-back, not the next
    if (this.failure !== undefined) throw this.failure;
    await this.fh.sync();
  }

  /** Close the file once the sync under way has ended, whatever it ends with. */
  async close(): Promise<void> {
    await this.running;
    await this.fh.close();
  }
}
