// The hand-written checked decoders of the tracker's hot messages (src/protocol/checked.ts)
// against their zod schemas: on valid messages both give the same object, and on every mutated
// one (a field dropped, retyped, out of range, extra keys, nested junk) the checked decoder never
// accepts what zod refuses, nor returns anything but what zod returns. decode() then gives the
// same answers and the same errors as before.
import test from 'ava';
import fc from 'fast-check';
import type { z } from 'zod';
import { checkAnnounce, checkHeartbeat, checkLookup } from '../../src/protocol/checked.js';
import { decode, decodeRaw, encode } from '../../src/protocol/codec.js';
import { AnnounceRequest, HeartbeatRequest, LookupRequest, PROTOCOL_VERSION } from '../../src/protocol/messages.js';
import { ProtocolError } from '../../src/errors.js';

const FILE_ID = 'ab'.repeat(32);
const meta = (k: number) => ({ fileId: k.toString(16).padStart(64, '0'), name: `file-${k}.bin`, size: k * 1000, chunkSize: 1 << 20, chunkCount: k % 50 });
const announce = {
  v: PROTOCOL_VERSION,
  peerId: 'alice_1-X',
  endpoint: { host: '10.0.0.7', port: 4000 },
  replace: false,
  files: [meta(1), meta(2), meta(3)],
  removed: ['cd'.repeat(32)],
};
const heartbeat = { v: PROTOCOL_VERSION, peerId: 'bob', endpoint: { host: 'h', port: 65535 }, fileCount: 0 };
const lookups = [{ v: PROTOCOL_VERSION, fileId: FILE_ID }, { v: PROTOCOL_VERSION, name: 'a' }];

// values a hostile or broken peer could put anywhere
const JUNK: unknown[] = [
  null, true, false, 0, -1, 1, 1.5, 65535, 65536, 2 ** 53, -(2 ** 53), Number.NaN, Infinity, -Infinity,
  '', 'x', 'no spaces allowed', 'A'.repeat(64), 'A'.repeat(65), 'é'.repeat(255), 'x'.repeat(256), FILE_ID, FILE_ID.toUpperCase(), `${FILE_ID}0`,
  [], [1], [FILE_ID], {}, { host: 'h', port: 1 }, Buffer.from('hi'), 64 * 1024 * 1024, 64 * 1024 * 1024 + 1, 1_000_000, 1_000_001,
];

/** Every path to a value inside `msg` (objects and arrays), the root excluded. */
function paths(value: unknown, prefix: Array<string | number> = []): Array<Array<string | number>> {
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return [];
  const keys = Array.isArray(value) ? value.map((_, i) => i) : Object.keys(value);
  return keys.flatMap((k) => [[...prefix, k], ...paths((value as Record<string | number, unknown>)[k], [...prefix, k])]);
}

function mutate(msg: unknown, path: Array<string | number>, to: unknown | typeof DELETE): unknown {
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
const DELETE = Symbol('delete');

/** The checked decoder agrees with zod on the value as it comes off the wire. */
function agree(t: import('ava').ExecutionContext, schema: z.ZodType, check: (v: unknown) => unknown, msg: unknown, label: string): boolean {
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

const cases: Array<[string, z.ZodType, (v: unknown) => unknown, unknown[]]> = [
  ['announce', AnnounceRequest, checkAnnounce, [announce, { ...announce, removed: undefined, replace: true }, { ...announce, files: [] }, { ...announce, extra: { deep: [1] } }]],
  ['heartbeat', HeartbeatRequest, checkHeartbeat, [heartbeat, { ...heartbeat, extra: 1 }]],
  ['lookup', LookupRequest, checkLookup, [...lookups, { ...lookups[0], more: 'x' }]],
];

for (const [what, schema, check, valid] of cases) {
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
      { numRuns: 150 },
    );
  });
}

test('decode() still names the bad field for the hot messages', (t) => {
  const err = t.throws(() => decode(AnnounceRequest, encode({ ...announce, files: [{ ...meta(1), chunkSize: 0 }] })), { instanceOf: ProtocolError });
  t.regex(err.message, /files\.0\.chunkSize/);
  t.throws(() => decode(HeartbeatRequest, encode({ ...heartbeat, fileCount: -1 })), { instanceOf: ProtocolError, message: /fileCount/ });
  t.throws(() => decode(LookupRequest, encode({ v: 1, fileId: FILE_ID, name: 'both' })), { instanceOf: ProtocolError });
  t.deepEqual(decode(AnnounceRequest, encode({ ...announce, removed: undefined })).removed, []);
});
