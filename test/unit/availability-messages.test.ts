// Availability on the wire: bitfields and ranges, the ChunkAvailability and AvailabilityQuery
// schemas (round trips; malformed ones are ProtocolError), their subjects, and byte-rate parsing.
import test from 'ava';
import fc from 'fast-check';
import { decode, encode } from '../../src/protocol/codec.js';
import { bitfieldBytes, clearBit, forEachDiff, hasBit, setBit, toRanges } from '../../src/protocol/bitfield.js';
import { AvailabilityQuery, ChunkAvailability, MAX_GAINED_RANGES, PROTOCOL_VERSION } from '../../src/protocol/messages.js';
import { subjects } from '../../src/protocol/subjects.js';
import { ProtocolError } from '../../src/errors.js';
import { parseBytes } from '../../src/units.js';

const FILE_ID = 'ab'.repeat(32);
const base = { v: PROTOCOL_VERSION, peerId: 'alice', endpoint: { host: '127.0.0.1', port: 4000 }, fileId: FILE_ID, chunkCount: 20 };

test('bitfield bits are least significant first; ranges merge and sort', (t) => {
  const bits = new Uint8Array(bitfieldBytes(20));
  t.is(bits.length, 3);
  setBit(bits, 0);
  setBit(bits, 9);
  setBit(bits, 19);
  t.deepEqual([...bits], [0b1, 0b10, 0b1000]);
  t.true(hasBit(bits, 9));
  clearBit(bits, 9);
  t.false(hasBit(bits, 9));
  t.false(hasBit(bits, 1000), 'out of range is false');
  t.deepEqual(toRanges([7, 3, 4, 5, 9, 4, 10]), [[3, 6], [7, 8], [9, 11]]);
  t.deepEqual(toRanges([]), []);
});

test('ChunkAvailability round trips in each of its three forms', (t) => {
  const bitfield = Buffer.from([0xff, 0x00, 0x0f]);
  for (const m of [{ ...base, complete: true }, { ...base, complete: false, bitfield }, { ...base, complete: false, gained: [[0, 3], [10, 20]] }]) {
    const back = decode(ChunkAvailability, encode(m));
    t.deepEqual({ ...back, bitfield: back.bitfield && Buffer.from(back.bitfield) }, { ...m, bitfield: (m as { bitfield?: Buffer }).bitfield });
  }
  const q = { v: PROTOCOL_VERSION, peerId: 'bob', fileId: FILE_ID };
  t.deepEqual(decode(AvailabilityQuery, encode(q)), q);
});

test('malformed availability is a ProtocolError', (t) => {
  const bad = [
    { ...base, complete: false }, // says nothing
    { ...base, complete: true, gained: [[0, 1]] }, // two things at once
    { ...base, complete: false, bitfield: Buffer.alloc(2) }, // wrong length for 20 chunks
    { ...base, complete: false, gained: [[5, 5]] }, // empty range
    { ...base, complete: false, gained: [[0, 21]] }, // past the end
    { ...base, complete: false, gained: Array.from({ length: MAX_GAINED_RANGES + 1 }, (_, i) => [i, i + 1]), chunkCount: 10_000 },
    { ...base, complete: false, bitfield: 'not bytes' },
    { ...base, fileId: 'nope', complete: true },
  ];
  for (const m of bad) t.throws(() => decode(ChunkAvailability, encode(m)), { instanceOf: ProtocolError }, JSON.stringify(m).slice(0, 120));
});

test('availability subjects: one per file, queries under it, a wildcard for all queries', (t) => {
  const s = subjects('swarm');
  t.is(s.avail(FILE_ID), `swarm.avail.${FILE_ID}`);
  t.is(s.availQuery(FILE_ID), `swarm.avail.${FILE_ID}.query`);
  t.is(s.availQueries, 'swarm.avail.*.query');
  t.throws(() => s.avail('../x'), { instanceOf: TypeError });
});

test('byte rates: plain numbers and binary suffixes', (t) => {
  t.is(parseBytes('1048576'), 1048576);
  t.is(parseBytes('20M'), 20 * 1024 * 1024);
  t.is(parseBytes('512k'), 512 * 1024);
  t.is(parseBytes('1.5G'), 1.5 * 1024 ** 3);
  t.is(parseBytes('20MiB/s'), 20 * 1024 * 1024);
  t.is(parseBytes('0'), 0);
  t.is(parseBytes(2048), 2048);
  for (const bad of ['', 'fast', '-1', '20X', '1e9']) t.is(parseBytes(bad), undefined, bad);
});

test('forEachDiff: the indexes that differ below count, ascending, each with its new value', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 70 }), fc.uint8Array({ minLength: 9, maxLength: 9 }), fc.uint8Array({ minLength: 9, maxLength: 9 }), (count, a, b) => {
      const was = a.subarray(0, Math.ceil(count / 8));
      const now = b.subarray(0, Math.ceil(count / 8));
      const expected: Array<[number, boolean]> = [];
      for (let i = 0; i < count; i++) if (hasBit(was, i) !== hasBit(now, i)) expected.push([i, hasBit(now, i)]);
      const seen: Array<[number, boolean]> = [];
      forEachDiff(was, now, count, (i, has) => seen.push([i, has]));
      t.deepEqual(seen, expected);
    }),
    { numRuns: 500 },
  );
});
