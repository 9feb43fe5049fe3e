// What the chunk picker knows of a source (all chunks, or a bitfield, and changes to it) and its options.
import type { ChunkRange } from '../protocol/bitfield.js';
import type { SwarmPickOptions } from './picker-swarm.js';

/** What a source can serve: every chunk, or those set in its bitfield. */
export type SourceHave = { kind: 'all' } | { kind: 'bits'; bits: Uint8Array };
/** A change to what a source can serve (`gained` adds chunks to its bitfield). */
export type HaveUpdate = SourceHave | { kind: 'gained'; ranges: readonly ChunkRange[] };

/** Options of a ChunkPicker; defaults in parentheses. */
export interface PickerOptions extends SwarmPickOptions {
  chunkCount: number;
  /** chunks we already hold: never picked */
  have: (index: number) => boolean;
  /** uniform in [0, 1) (Math.random) */
  random?: () => number;
  /** a request is duplicated only once it is older than max(this, factor × typical) ms (1000) */
  endgameMinMs?: number;
  /** (3) */
  endgameFactor?: number;
  /** sources asked for one chunk at once in the endgame (3) */
  maxRequesters?: number;
  /** pool entries looked at per pick: bounds the cost for huge chunk counts (4096) */
  scanLimit?: number;
}
