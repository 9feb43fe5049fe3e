// Bounded work for anyone on the bus (issue 9, class 6): at most `maxRunning` downloads run on a
// peer at once, at most `maxQueued` more wait their turn (first come, first served); beyond that
// an intent is refused with BUSY naming the limit. Finished sessions free their slot at once.
// Pure bookkeeping, no I/O: the peer's composition root calls `admit` when an intent arrives and
// `release` when the session reaches a final state (see docs/reliability.md, class 6).
import { BusyError } from './errors.js';

export interface DownloadLimits {
  /** downloads running at once (each holds sockets, a part file and a trace file) */
  maxRunning: number;
  /** intents waiting for a slot; beyond this, BUSY */
  maxQueued: number;
}

export const DEFAULT_DOWNLOAD_LIMITS: DownloadLimits = { maxRunning: 16, maxQueued: 256 };

export type Admission = { kind: 'run' } | { kind: 'queued'; position: number };

/** Slots for running downloads and a FIFO queue for the rest. */
export class DownloadLimiter {
  private readonly running = new Set<string>();
  private readonly queue: Array<{ id: string; start: () => void }> = [];

  constructor(private readonly limits: DownloadLimits = DEFAULT_DOWNLOAD_LIMITS) {
    if (!Number.isInteger(limits.maxRunning) || limits.maxRunning < 1) throw new RangeError('maxRunning must be an integer ≥ 1');
    if (!Number.isInteger(limits.maxQueued) || limits.maxQueued < 0) throw new RangeError('maxQueued must be an integer ≥ 0');
  }

  /**
   * Admit download `id`: `start` is called now (a free slot) or later (when one frees up, in
   * arrival order). Throws BusyError naming the limits when the queue is full too. Admitting an id
   * already running or queued changes nothing.
   */
  admit(id: string, start: () => void): Admission {
    if (this.running.has(id)) return { kind: 'run' };
    const waiting = this.queue.findIndex((q) => q.id === id);
    if (waiting >= 0) return { kind: 'queued', position: waiting + 1 };
    if (this.running.size < this.limits.maxRunning) {
      this.running.add(id);
      start();
      return { kind: 'run' };
    }
    if (this.queue.length >= this.limits.maxQueued) {
      throw new BusyError(
        `this peer runs ${this.limits.maxRunning} downloads at most and ${this.limits.maxQueued} more are waiting (peer.maxDownloads, peer.maxQueuedDownloads); try again later`,
      );
    }
    this.queue.push({ id, start });
    return { kind: 'queued', position: this.queue.length };
  }

  /** Download `id` finished (or was cancelled, queued or not): its slot goes to the next in line. */
  release(id: string): void {
    const waiting = this.queue.findIndex((q) => q.id === id);
    if (waiting >= 0) {
      this.queue.splice(waiting, 1);
      return;
    }
    if (!this.running.delete(id)) return;
    while (this.running.size < this.limits.maxRunning && this.queue.length > 0) {
      const next = this.queue.shift()!;
      this.running.add(next.id);
      next.start();
    }
  }

  get counts(): { running: number; queued: number } {
    return { running: this.running.size, queued: this.queue.length };
  }
}
