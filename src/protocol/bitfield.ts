// Chunk bitfields and index ranges as they travel in availability messages (and sit in
// `.state` files): bit i is bit (i mod 8), least significant first, of byte ⌊i / 8⌋.

/** Bytes of a bitfield for `count` chunks. */
export function bitfieldBytes(count: number): number {
  return Math.ceil(count / 8);
}

/** Is bit `index` set? Out of range is false. */
export function hasBit(bits: Uint8Array, index: number): boolean {
  return index >= 0 && (index >> 3) < bits.length && (bits[index >> 3]! & (1 << (index & 7))) !== 0;
}

export function setBit(bits: Uint8Array, index: number): void {
  bits[index >> 3]! |= 1 << (index & 7);
}

export function clearBit(bits: Uint8Array, index: number): void {
  bits[index >> 3]! &= ~(1 << (index & 7));
}

/**
 * Call `changed(i, has)` for every index below `count` set in one of `was` and `now` but not in
 * the other, ascending. A byte at a time: a bitfield that mostly repeats the last costs a compare
 * per 8 chunks (availability bitfields arrive on every query answer and in merged news).
 */
export function forEachDiff(was: Uint8Array, now: Uint8Array, count: number, changed: (index: number, has: boolean) => void): void {
  const bytes = bitfieldBytes(count);
  for (let b = 0; b < bytes; b++) {
    const after = now[b] ?? 0;
    let diff = ((was[b] ?? 0) ^ after) & 0xff;
    while (diff !== 0) {
      const bit = 31 - Math.clz32(diff & -diff);
      diff &= diff - 1;
      const index = (b << 3) + bit;
      if (index < count) changed(index, (after & (1 << bit)) !== 0);
    }
  }
}

/** A half-open range of chunk indexes `[start, end)`. */
export type ChunkRange = [start: number, end: number];

/** Sorted, merged ranges covering `indexes` (any order, duplicates allowed). */
export function toRanges(indexes: Iterable<number>): ChunkRange[] {
  const sorted = [...indexes].sort((a, b) => a - b);
  const out: ChunkRange[] = [];
  for (const i of sorted) {
    const last = out[out.length - 1];
    if (last && i <= last[1]) last[1] = Math.max(last[1], i + 1);
    else out.push([i, i + 1]);
  }
  return out;
}
