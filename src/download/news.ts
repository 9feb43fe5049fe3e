// Availability news for one download, gathered per source and handed on in one batch per window:
// neighbours each announce every 50 ms, and one machine event (snapshot, inspection, fill of the
// pipelines) per batch costs a downloader far less CPU than one per message (issue 12).
import { bitfieldBytes, setBit } from '../protocol/bitfield.js';
import type { Source } from '../protocol/messages.js';
import type { Clock } from '../clock.js';
import type { HaveUpdate } from './picker-types.js';

/**
 * One change that has the effect of `prev` then `next` on the picker: a complete source stays
 * complete, a bitfield replaces what came before, gains add to it. `count` bounds a bitfield.
 */
export function mergeHave(prev: HaveUpdate, next: HaveUpdate, count: number): HaveUpdate {
  if (prev.kind === 'all' || next.kind !== 'gained') return prev.kind === 'all' ? prev : next;
  if (prev.kind === 'gained') return { kind: 'gained', ranges: [...prev.ranges, ...next.ranges] };
  // a copy: the received bitfield may be a view of the message's bytes
  const bits = new Uint8Array(Math.max(prev.bits.length, bitfieldBytes(count)));
  bits.set(prev.bits);
  for (const [start, end] of next.ranges) for (let i = Math.max(0, start); i < Math.min(end, count); i++) setBit(bits, i);
  return { kind: 'bits', bits };
}

/** What the sources heard from during one window hold now, in the order first heard. */
export interface NewsBatch {
  sources: Source[];
  changes: HaveUpdate[];
}

/** Gathers news per source and calls `deliver` once per `windowMs` when there is any. */
export class SwarmNews {
  private readonly pending = new Map<string, { source: Source; change: HaveUpdate }>();
  private cancel: (() => void) | undefined;
  private stopped = false;

  constructor(
    private readonly clock: Pick<Clock, 'setTimeout'>,
    private readonly options: { chunkCount: number; windowMs: number; deliver: (batch: NewsBatch) => void },
  ) {}

  /** `source` now holds `change` (on top of what it said earlier in this window). */
  add(source: Source, change: HaveUpdate): void {
    if (this.stopped) return;
    const known = this.pending.get(source.peerId);
    // the newest endpoint is the one to use
    this.pending.set(source.peerId, { source, change: known ? mergeHave(known.change, change, this.options.chunkCount) : change });
    this.cancel ??= this.clock.setTimeout(() => this.flush(), this.options.windowMs);
  }

  /** Hand on what was gathered now. */
  flush(): void {
    this.cancel?.();
    this.cancel = undefined;
    if (this.stopped || this.pending.size === 0) return;
    const batch: NewsBatch = { sources: [], changes: [] };
    for (const { source, change } of this.pending.values()) {
      batch.sources.push(source);
      batch.changes.push(change);
    }
    this.pending.clear();
    this.options.deliver(batch);
  }

  /** Drop what is pending; nothing is delivered any more. */
  stop(): void {
    this.stopped = true;
    this.cancel?.();
    this.cancel = undefined;
    this.pending.clear();
  }
}
