// The announce read straight from its bytes (src/protocol/announce-reader.ts) against the general
// path (depth scan, msgpackr, hostile keys, the zod schema): the reader may give up on anything,
// but whatever it returns the general path accepts and returns too, field for field: on valid
// announces, every field dropped or replaced by junk, hand-built encodings, random values, and
// valid bytes with some flipped.
import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { readAnnounce } from '../../src/protocol/announce-reader.js';
import { decode, decodeRaw, encode } from '../../src/protocol/codec.js';
import { AnnounceRequest } from '../../src/protocol/messages.js';
import { DELETE, JUNK, mutate, paths, sampleMeta, SAMPLE_ANNOUNCE } from '../helpers/checked-compare.js';

const meta = sampleMeta;
const announce = SAMPLE_ANNOUNCE;
const VALID = [
  announce,
  { ...announce, removed: undefined, replace: true },
  { ...announce, files: [], removed: [] },
  { ...announce, files: Array.from({ length: 500 }, (_, k) => meta(k)) }, // array16, the batch limit
  { ...announce, files: [{ ...meta(7), name: 'ünïcødé 🎵 名前.mp3', size: 2 ** 40 + 3 }] }, // utf-8, float64 size
  { ...announce, files: [{ ...meta(8), name: 'x'.repeat(255), size: Number.MAX_SAFE_INTEGER }] }, // str8, largest size
  { ...announce, endpoint: { host: '::1', port: 65535 }, peerId: 'p'.repeat(64) },
];
// a packer that writes what ours never does (ints in any width, extension types)
const lax = new Packr({ useRecords: false });

/** What the general path makes of `bytes`: its value, or undefined when it refuses them. */
function general(bytes: Uint8Array): unknown {
  try {
    const parsed = AnnounceRequest.safeParse(decodeRaw(bytes));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** The reader returns nothing, or exactly what the general path returns. True when it returned. */
function agree(t: ExecutionContext, bytes: Uint8Array, label: string): boolean {
  const read = readAnnounce(bytes);
  if (read === undefined) return false;
  const value = general(bytes);
  if (value === undefined) {
    t.fail(`${label}: the reader accepted what the general path refuses`);
    return false;
  }
  t.deepEqual(read, value, label);
  return true;
}

function encodeOrNothing(msg: unknown): Uint8Array | undefined {
  try {
    return encode(msg);
  } catch {
    return undefined;
  }
}

/** A msgpack map built by hand: keys as written, in this order, repeated if asked. */
function packMap(entries: Array<[string, unknown]>): Buffer {
  const parts = entries.flatMap(([key, value]) => [lax.pack(key), Buffer.isBuffer(value) ? value : lax.pack(value)]);
  return Buffer.concat([Buffer.from([0x80 | entries.length]), ...parts]);
}

test('valid announces are read, and equal the general path', (t) => {
  for (const msg of VALID) t.true(agree(t, encode(msg), JSON.stringify(msg).slice(0, 200)));
  t.deepEqual(readAnnounce(encode({ ...announce, removed: undefined }))?.removed, []);
});

test('decode() takes the reader for a valid announce and still refuses with the same messages', (t) => {
  const bytes = encode(announce);
  t.deepEqual(decode(AnnounceRequest, bytes), readAnnounce(bytes));
  t.throws(() => decode(AnnounceRequest, encode({ ...announce, files: [{ ...meta(1), chunkSize: 0 }] })), { message: /files\.0\.chunkSize/ });
  t.throws(() => decode(AnnounceRequest, encode({ ...announce, v: 2 })), { message: /protocol version 2/ });
});

test('every field dropped or replaced by junk: read only when the general path accepts it', (t) => {
  let read = 0;
  let tried = 0;
  for (const msg of VALID.slice(0, 3)) {
    for (const path of paths(msg)) {
      for (const to of [DELETE, ...JUNK]) {
        const bytes = encodeOrNothing(mutate(msg, path, to));
        if (!bytes) continue;
        tried++;
        if (agree(t, bytes, `${path.join('.')} = ${to === DELETE ? 'deleted' : JSON.stringify(to)}`)) read++;
      }
    }
  }
  t.true(read > 0 && read < tried);
});

test('encodings off the common shape are left to the general path, which decides as before', (t) => {
  const entries = Object.entries(announce) as Array<[string, unknown]>;
  const file = Object.entries(meta(1)) as Array<[string, unknown]>;
  const cases: Array<[string, Uint8Array, boolean]> = [
    // [label, bytes, does the general path accept them]
    ['an unknown key (stripped by zod)', packMap([...entries, ['extra', 1]]), true],
    ['a repeated key (msgpackr keeps the last)', packMap([...entries, ['peerId', 'mallory']]), true],
    ['a hostile key', packMap([...entries, ['constructor', 1]]), false],
    ['a str8 key', Buffer.concat([Buffer.from([0x81, 0xd9, 0x01]), Buffer.from('v'), Buffer.from([0x01])]), false],
    ['port as int8', packMap([...entries.filter(([k]) => k !== 'endpoint'), ['endpoint', packMap([['host', 'h'], ['port', Buffer.from([0xd0, 0x05])]])]]), true],
    ['size as float32', packMap([...entries.filter(([k]) => k !== 'files'), ['files', Buffer.concat([Buffer.from([0x91]), packMap([...file.filter(([k]) => k !== 'size'), ['size', Buffer.from([0xca, 0x40, 0x00, 0x00, 0x00])]])])]]), true],
    ['a name with a BOM', encode({ ...announce, files: [{ ...meta(1), name: '\ufeff'.padEnd(70, 'x') }] }), true],
    ['a name of invalid utf-8', packMap([...entries.filter(([k]) => k !== 'files'), ['files', Buffer.concat([Buffer.from([0x91]), packMap([...file.filter(([k]) => k !== 'name'), ['name', Buffer.from([0xa2, 0xc3, 0x28])]])])]]), true],
    ['an uppercase fileId', encode({ ...announce, removed: ['CD'.repeat(32)] }), false],
    ['trailing bytes', Buffer.concat([encode(announce), Buffer.from([0x00])]), false],
    ['truncated', encode(announce).subarray(0, 100), false],
    ['an empty map', Buffer.from([0x80]), false],
  ];
  t.true(agree(t, packMap([...entries].reverse()), 'keys in another order: read all the same'));
  for (const [label, bytes, accepted] of cases) {
    t.is(readAnnounce(bytes), undefined, label);
    t.is(general(bytes) !== undefined, accepted, label);
  }
});

test('fuzz: random values anywhere in an announce are read only when the general path accepts them', (t) => {
  fc.assert(
    fc.property(fc.anything({ withNullPrototype: false, withObjectString: false }), (junk) => {
      for (const path of paths(announce)) {
        const bytes = encodeOrNothing(mutate(announce, path, junk));
        if (bytes) agree(t, bytes, `fuzz ${path.join('.')}`);
      }
    }),
    { numRuns: 200 },
  );
  t.pass();
});

test('fuzz: an announce with bytes flipped is read only when the general path accepts it', (t) => {
  const valid = encode(announce);
  const flips = fc.array(fc.tuple(fc.nat({ max: valid.length - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 });
  fc.assert(
    fc.property(flips, (changes) => {
      const bytes = Uint8Array.from(valid);
      for (const [at, byte] of changes) bytes[at] = byte;
      agree(t, bytes, `flipped ${JSON.stringify(changes)}`);
    }),
    { numRuns: 3000 },
  );
  t.pass();
});
