// The pool chunk bodies are received into (src/transport/chunk-buffers.ts): sizes, reuse, a
// buffer handed to one owner at a time, and its bound.
import test from 'ava';
import { ChunkBufferPool } from '../../src/transport/chunk-buffers.js';

test('acquire gives a buffer of the asked length on its own store of the asked capacity', (t) => {
  const pool = new ChunkBufferPool(1024);
  const a = pool.acquire(100, 60);
  t.is(a.length, 60);
  t.is(a.byteOffset, 0);
  t.is(a.buffer.byteLength, 100);
  const b = pool.acquire(100);
  t.is(b.length, 100);
  t.not(b.buffer, a.buffer);
  t.throws(() => pool.acquire(10, 11), { instanceOf: RangeError });
  t.throws(() => pool.acquire(0), { instanceOf: RangeError });
});

test('a released buffer (any view of it) is reused, once', (t) => {
  const pool = new ChunkBufferPool(1024);
  const a = pool.acquire(100, 70);
  pool.release(a.subarray(10, 20));
  t.is(pool.keptBytes, 100);
  pool.release(a); // a second release of the same store is ignored
  t.is(pool.keptBytes, 100);
  const b = pool.acquire(100, 30);
  t.is(b.buffer, a.buffer);
  t.is(pool.keptBytes, 0);
  // the store is out again: it must not be handed to anyone else
  const c = pool.acquire(100);
  t.not(c.buffer, b.buffer);
});

test('buffers the pool did not make are ignored; it keeps at most its bound', (t) => {
  const pool = new ChunkBufferPool(250);
  pool.release(Buffer.alloc(100));
  t.is(pool.keptBytes, 0);
  const out = [pool.acquire(100), pool.acquire(100), pool.acquire(100)];
  for (const b of out) pool.release(b);
  t.is(pool.keptBytes, 200); // the third went to the GC
  const again = [pool.acquire(100), pool.acquire(100), pool.acquire(100)];
  t.is(new Set(again.map((b) => b.buffer)).size, 3);
  t.true(again.filter((b) => out.some((o) => o.buffer === b.buffer)).length === 2);
});
