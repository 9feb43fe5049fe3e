// Inputs for the chunk picker's pure tests: a seeded "random" (repeatable) and bitfields.

/** A seeded linear congruential generator in [0, 1), so "random" tests are repeatable. */
export function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** A bitfield of `count` chunks with the indexes in `set` on. */
export function bits(count: number, set: number[]): Uint8Array {
  const b = new Uint8Array(Math.ceil(count / 8));
  for (const i of set) b[i >> 3]! |= 1 << (i & 7);
  return b;
}
