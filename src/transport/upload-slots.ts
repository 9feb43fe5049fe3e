// Upload slots: how many downloaders a peer serves at once. A connection takes a slot with its
// first chunk request and keeps it while it keeps asking; one that has been quiet for `idleMs`
// (or closed) gives it up. Requests beyond the slots are answered BUSY (the client retries later).

/** Options of UploadSlots. */
export interface UploadSlotsOptions {
  /** slots; 0 = unlimited */
  max: number;
  /** a holder quiet this long loses its slot to a newcomer (default 1000 ms) */
  idleMs?: number;
  now: () => number;
}

interface Holder {
  lastAskedAt: number;
  /** true while it still has requests queued or being sent */
  busy: () => boolean;
}

/** Slot bookkeeping for one chunk server (pure: the clock is passed in). */
export class UploadSlots {
  private readonly holders = new Map<object, Holder>();
  private readonly idleMs: number;

  constructor(private readonly opts: UploadSlotsOptions) {
    this.idleMs = opts.idleMs ?? 1000;
  }

  /** Slots held now. */
  get used(): number {
    return this.holders.size;
  }

  /**
   * `who` asks for a chunk: true if it holds (or now takes) a slot, false if it must be told BUSY.
   * A full house first frees the slots of holders that went quiet.
   */
  ask(who: object, busy: () => boolean): boolean {
    const now = this.opts.now();
    const held = this.holders.get(who);
    if (held) {
      held.lastAskedAt = now;
      return true;
    }
    if (this.opts.max > 0 && this.holders.size >= this.opts.max) {
      for (const [other, h] of this.holders) {
        if (!h.busy() && now - h.lastAskedAt >= this.idleMs) this.holders.delete(other);
      }
      if (this.holders.size >= this.opts.max) return false;
    }
    this.holders.set(who, { lastAskedAt: now, busy });
    return true;
  }

  /** `who` is gone (connection closed). */
  release(who: object): void {
    this.holders.delete(who);
  }
}
