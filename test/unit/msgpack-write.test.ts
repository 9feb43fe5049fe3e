// The hand-written msgpack writer (src/protocol/msgpack-write.ts) against msgpackr configured as
// codec.ts configures it: every header and value it writes, at every width boundary.
import test from 'ava';
import { encode } from '../../src/protocol/codec.js';
import { MsgpackWriter, strBytes } from '../../src/protocol/msgpack-write.js';

const written = (write: (w: MsgpackWriter) => void) => {
  const w = new MsgpackWriter(4); // tiny: every value makes it grow
  write(w);
  return w.copy();
};

test('numbers: every int width, both signs, and what is not an int32 as float 64', (t) => {
  const values = [0, -0, 1, 31, 32, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1, 2 ** 53, 1e300];
  for (const v of [...values, ...values.map((x) => -x), -31, -32, -33, -128, -129, -32768, -32769, -(2 ** 31), -(2 ** 31) - 1, 0.5, -1.5, NaN, Infinity, -Infinity]) {
    t.deepEqual(written((w) => w.number(v)), Buffer.from(encode(v)), String(v));
  }
});

test('strings: every header, multi-byte and lone surrogates, short and long paths', (t) => {
  const strings = ['', 'a', 'x'.repeat(31), 'x'.repeat(32), 'x'.repeat(63), 'x'.repeat(64), 'x'.repeat(255), 'x'.repeat(256), 'x'.repeat(65535), 'x'.repeat(65536)];
  strings.push('é'.repeat(15), 'é'.repeat(16), 'é'.repeat(127), 'é'.repeat(128), '映'.repeat(10), '映'.repeat(11), '映'.repeat(85), '映'.repeat(86), '映'.repeat(21845), '映'.repeat(21846));
  strings.push('🎵', '🎵'.repeat(40), '\ud800', '\udfff', 'a\ud800b', '\ud800'.repeat(70), '\udc00\ud800');
  for (const s of strings) {
    t.deepEqual(written((w) => w.str(s)), Buffer.from(encode(s)), `${s.length} chars`);
    t.deepEqual(Buffer.from(strBytes(s)), Buffer.from(encode(s)));
  }
});

test('arrays, maps, booleans, nil; an array header patched after its items', (t) => {
  for (const n of [0, 1, 15, 16, 65535, 65536]) {
    const items = Array.from({ length: n }, (_, i) => i & 0x7f);
    t.deepEqual(written((w) => { w.array(n); for (const i of items) w.number(i); }), Buffer.from(encode(items)), `array of ${n}`);
    // written with another count, then patched: the items move with the header's size
    const patched = written((w) => {
      w.bool(true);
      const at = w.pos;
      w.array(0xffff);
      for (const i of items) w.number(i);
      w.patchArray(at, 0xffff, n);
    });
    t.deepEqual(patched, Buffer.concat([Buffer.from([0xc3]), Buffer.from(encode(items))]), `patched array of ${n}`);
  }
  const obj = { a: true, b: false, c: null, d: {}, e: [] };
  t.deepEqual(
    written((w) => {
      w.map(5);
      w.str('a'); w.bool(true);
      w.str('b'); w.bool(false);
      w.str('c'); w.nil();
      w.str('d'); w.map(0);
      w.str('e'); w.array(0);
    }),
    Buffer.from(encode(obj)),
  );
  const wide = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, i]));
  t.deepEqual(written((w) => { w.map(20); for (const [k, v] of Object.entries(wide)) { w.str(k); w.number(v); } }), Buffer.from(encode(wide)), 'a map is map 16 at any size');
  t.deepEqual(written((w) => w.raw(new Uint8Array(100).fill(7))), Buffer.alloc(100, 7));
});
