// Comparing a hand-written checked decoder with its zod schema (src/protocol/checked.ts,
// checked-replies.ts; config/load.ts's rules): valid values, every field dropped or replaced by
// junk, random values. The checked side must never accept what zod refuses, and must return
// exactly zod's output when both accept.
import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import type { z } from 'zod';
import { decodeRaw, encode } from '../../src/protocol/codec.js';
import { PROTOCOL_VERSION } from '../../src/protocol/ids.js';

export const FILE_ID = 'ab'.repeat(32);

/** A FileMeta for the comparison suites, `k` picking its id, name and sizes. */
export const sampleMeta = (k: number) => ({ fileId: k.toString(16).padStart(64, '0'), name: `file-${k}.bin`, size: k * 1000, chunkSize: 1 << 20, chunkCount: k % 50 });

/** A valid announce every suite starts its mutations from. */
export const SAMPLE_ANNOUNCE = {
  v: PROTOCOL_VERSION,
  peerId: 'alice_1-X',
  endpoint: { host: '10.0.0.7', port: 4000 },
  replace: false,
  files: [sampleMeta(1), sampleMeta(2), sampleMeta(3)],
  removed: ['cd'.repeat(32)],
};

// values a hostile or broken peer could put anywhere
export const JUNK: unknown[] = [
  null, true, false, 0, -1, 1, 1.5, 65535, 65536, 2 ** 53, -(2 ** 53), Number.NaN, Infinity, -Infinity,
  '', 'x', 'no spaces allowed', 'A'.repeat(64), 'A'.repeat(65), 'é'.repeat(255), 'x'.repeat(256), FILE_ID, FILE_ID.toUpperCase(), `${FILE_ID}0`,
  [], [1], [FILE_ID], {}, { host: 'h', port: 1 }, Buffer.from('hi'), 64 * 1024 * 1024, 64 * 1024 * 1024 + 1, 1_000_000, 1_000_001,
];

/** Every path to a value inside `msg` (objects and arrays), the root excluded. */
export function paths(value: unknown, prefix: Array<string | number> = []): Array<Array<string | number>> {
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return [];
  const keys = Array.isArray(value) ? value.map((_, i) => i) : Object.keys(value);
  return keys.flatMap((k) => [[...prefix, k], ...paths((value as Record<string | number, unknown>)[k], [...prefix, k])]);
}

export function mutate(msg: unknown, path: Array<string | number>, to: unknown | typeof DELETE): unknown {
  const copy = structuredClone(msg) as Record<string | number, unknown>;
  let at = copy;
  for (const k of path.slice(0, -1)) at = at[k] as Record<string | number, unknown>;
  const last = path[path.length - 1]!;
  if (to === DELETE) {
    if (Array.isArray(at)) at.splice(last as number, 1);
    else delete at[last];
  } else at[last] = to;
  return copy;
}
export const DELETE = Symbol('delete');

/** The checked decoder agrees with zod on the value as it comes off the wire. */
export function agree(t: ExecutionContext, schema: z.ZodType, check: (v: unknown) => unknown, msg: unknown, label: string): boolean {
  let wire: unknown;
  try {
    wire = decodeRaw(encode(msg));
  } catch {
    return false; // refused before any schema (undefined in an array, too deep, …)
  }
  const zod = schema.safeParse(wire);
  const fast = check(wire);
  if (fast !== undefined) {
    if (!zod.success) {
      t.fail(`${label}: checked decoder accepted what zod refuses: ${JSON.stringify(msg)}`);
      return false;
    }
    t.deepEqual(fast, zod.data, label);
  }
  return fast !== undefined;
}


/** The three comparisons, as ava tests named after `what`, over the `valid` examples. */
export function compareSuite(what: string, schema: z.ZodType, check: (v: unknown) => unknown, valid: unknown[], fuzzRuns = 150): void {
  test(`${what}: valid messages take the checked path and equal zod's output`, (t) => {
    for (const msg of valid) t.true(agree(t, schema, check, msg, JSON.stringify(msg)), `not taken: ${JSON.stringify(msg)}`);
  });

  test(`${what}: every field dropped or replaced by junk is refused whenever zod refuses it`, (t) => {
    let refused = 0;
    for (const msg of valid) {
      for (const path of paths(msg)) {
        for (const to of [DELETE, ...JUNK]) {
          const mutated = mutate(msg, path, to);
          if (!agree(t, schema, check, mutated, `${path.join('.')} = ${String(to === DELETE ? 'deleted' : JSON.stringify(to))}`)) refused++;
        }
      }
    }
    t.true(refused > 0);
  });

  test(`${what}: random values never pass the checked decoder unless zod passes them`, (t) => {
    fc.assert(
      fc.property(fc.anything({ withNullPrototype: false, withObjectString: false }), (junk) => {
        for (const base of valid) {
          for (const path of paths(base)) agree(t, schema, check, mutate(base, path, junk), 'fuzz');
        }
        agree(t, schema, check, junk, 'fuzz root');
      }),
      { numRuns: fuzzRuns },
    );
  });
}
