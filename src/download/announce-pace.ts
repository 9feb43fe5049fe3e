// How often a downloader tells the swarm what it gained, as the swarm grows. Every availability
// message is checked (Ed25519, ~150 µs here, plus decoding) by every other downloader of the file,
// so with a fixed window the work each peer does grows with the number of peers: N downloaders
// at one message per 50 ms each make every one of them check 20 × (N − 1) messages a second
// (30 peers: ~580 a second, ~90 ms of CPU a second each for signatures alone). Instead the
// downloaders of a file aim at a total rate together: each one's window widens with the number of
// other downloaders it hears, so what each receives stays about the same however many there are.
// Up to 8 downloaders nothing changes (the base window); the window never exceeds a second.
// Answers to availability queries are paced the same way: at most one per file per window.

import type { Clock } from '../clock.js';

/** Availability messages a second one downloader receives about a file from all the others together, once past the base window. */
export const ANNOUNCE_RATE_PER_FILE = 140;
/** The widest a window gets: a neighbour learns of a gained chunk within this long whatever the swarm's size. */
export const MAX_ANNOUNCE_WINDOW_MS = 1000;
/** A downloader not heard from this long is no longer counted (it finished, stopped, or stalled). */
export const LISTENER_TTL_MS = 30_000;
/** Downloaders counted per file at most (a flood of ids does not grow the map). */
const MAX_LISTENERS = 10_000;

/**
 * The window between two availability messages about one file, with `others` other downloaders
 * of it heard lately: `baseMs` while they are few, then widening so that each downloader receives
 * about ANNOUNCE_RATE_PER_FILE messages a second from all the others (each of them pacing itself
 * alike), never past MAX_ANNOUNCE_WINDOW_MS (nor under `baseMs`). With the 50 ms base: 7 others
 * or fewer 50 ms, 28 others 200 ms, 140 or more a second.
 */
export function announceWindowMs(others: number, baseMs: number): number {
  const paced = Math.ceil((Math.max(0, others) * 1000) / ANNOUNCE_RATE_PER_FILE);
  return Math.max(baseMs, Math.min(MAX_ANNOUNCE_WINDOW_MS, paced));
}

/** The other downloaders of one file, as heard on its availability subject. */
export class DownloaderCount {
  private readonly lastHeard = new Map<string, number>();

  /** `peerId` announced part of the file at `now` (it downloads it too). */
  heard(peerId: string, now: number): void {
    this.lastHeard.delete(peerId); // re-inserted last: the map stays in order of last hearing
    if (this.lastHeard.size >= MAX_LISTENERS) this.lastHeard.delete(this.lastHeard.keys().next().value!);
    this.lastHeard.set(peerId, now);
  }

  /** `peerId` holds the whole file now: it no longer downloads it. */
  gone(peerId: string): void {
    this.lastHeard.delete(peerId);
  }

  /** Downloaders heard within LISTENER_TTL_MS of `now` (older ones are forgotten). */
  count(now: number): number {
    for (const [id, at] of this.lastHeard) {
      if (now - at <= LISTENER_TTL_MS) break; // the rest were heard later
      this.lastHeard.delete(id);
    }
    return this.lastHeard.size;
  }
}

/**
 * Answers to availability queries, at most one per file per window: the first at once, the
 * queries that come within the window after it answered together at the window's end (`answer`
 * runs then, with what we hold by then). Downloaders that start together each query the file,
 * and every holder's answer goes to every listener: answered one by one, N starters cost N
 * answers from each holder, N² messages checked by each listener.
 */
export class AnswerPacer {
  private readonly files = new Map<string, { at: number; cancel?: () => void }>();

  constructor(private readonly clock: Pick<Clock, 'now' | 'setTimeout'>) {}

  /** A query for `fileId` came: `answer` now, or once at the end of the current window. */
  query(fileId: string, windowMs: number, answer: () => void): void {
    const now = this.clock.now();
    const entry = this.files.get(fileId);
    if (entry?.cancel) return; // an answer is due already: it covers this query too
    if (!entry || now - entry.at >= windowMs) {
      this.prune(now);
      this.files.set(fileId, { at: now });
      return answer();
    }
    entry.cancel = this.clock.setTimeout(() => {
      entry.cancel = undefined;
      entry.at = this.clock.now();
      answer();
    }, entry.at + windowMs - now);
  }

  /** Cancel the answers due. */
  stop(): void {
    for (const entry of this.files.values()) entry.cancel?.();
    this.files.clear();
  }

  /** Forget files answered longer ago than any window (a peer holding many files keeps few entries). */
  private prune(now: number): void {
    if (this.files.size < 1024) return;
    for (const [id, e] of this.files) if (!e.cancel && now - e.at > MAX_ANNOUNCE_WINDOW_MS) this.files.delete(id);
  }
}
