// A small msgpack writer for replies built straight from our own records (the tracker's lookup
// reply), byte for byte what codec.ts's msgpackr instance writes for the same plain objects, so a
// reader cannot tell them apart and tests can compare the two. What msgpackr does, as configured
// there (msgpackr 2.1.x, `useRecords: false`, no `variableMapSize`):
// - every object is a map 16 (0xde + 16-bit count), whatever its number of keys;
// - arrays: fixarray below 16 items, then array 16, array 32;
// - strings: by UTF-8 byte length, fixstr below 32, then str 8, 16, 32; a lone surrogate is
//   written as U+FFFD (as Buffer's utf8Write does);
// - numbers: an integer in [0, 2^32) as positive fixint below 128, then uint 8, 16, 32; in
//   [-2^31, 0) as negative fixint from -32, then int 8, 16, 32; anything else (larger integers
//   such as millisecond timestamps, fractions) as float 64. msgpackr never writes uint 64.
// A dependency upgrade that changes any of this fails test/unit/lookup-reply.test.ts.

/** Appends msgpack values to a buffer that grows as needed; `reset()` to reuse it. */
export class MsgpackWriter {
  private buf: Buffer;
  private view: DataView;
  /** bytes written so far */
  pos = 0;

  constructor(initialBytes = 16 * 1024) {
    this.buf = Buffer.allocUnsafe(initialBytes);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }

  /** Start over (the buffer is kept). */
  reset(): void {
    this.pos = 0;
  }

  /** A copy of what was written, from `start`: the writer's buffer is reused by the next message. */
  copy(start = 0): Buffer {
    const out = Buffer.allocUnsafe(this.pos - start);
    this.buf.copy(out, 0, start, this.pos);
    return out;
  }

  /** Make room for `n` more bytes. */
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
    this.view = new DataView(next.buffer, next.byteOffset, next.byteLength);
  }

  /** A map header: always map 16, as msgpackr writes objects (it fills the count in afterwards). */
  map(keys: number): void {
    this.ensure(3);
    this.buf[this.pos] = 0xde;
    this.buf[this.pos + 1] = keys >> 8;
    this.buf[this.pos + 2] = keys & 0xff;
    this.pos += 3;
  }

  array(length: number): void {
    this.ensure(5);
    if (length < 0x10) this.buf[this.pos++] = 0x90 | length;
    else if (length < 0x10000) this.u16(0xdc, length);
    else this.u32(0xdd, length);
  }

  /** Bytes of an array header for `length` items. */
  static arrayHeaderBytes(length: number): number {
    return length < 0x10 ? 1 : length < 0x10000 ? 3 : 5;
  }

  /**
   * Rewrite the array header at `at`, written as `array(expected)` before the items were known,
   * as the header for `length` items; the items after it move when the header's size changes
   * (for lists trimmed while they are written; expect the untrimmed length: usually no move).
   */
  patchArray(at: number, expected: number, length: number): void {
    const was = MsgpackWriter.arrayHeaderBytes(expected);
    const size = MsgpackWriter.arrayHeaderBytes(length);
    if (size !== was) {
      this.ensure(size - was);
      this.buf.copyWithin(at + size, at + was, this.pos);
      this.pos += size - was;
    }
    const end = this.pos;
    this.pos = at;
    this.array(length);
    this.pos = end;
  }

  str(s: string): void {
    const chars = s.length;
    // header size from the char count (UTF-8 bytes ≥ chars), corrected below like msgpackr does
    const guess = chars < 0x20 ? 1 : chars < 0x100 ? 2 : chars < 0x10000 ? 3 : 5;
    this.ensure(guess + chars * 3 + 5);
    const start = this.pos + guess;
    const length = chars < 0x40 ? this.utf8Short(s, start) : this.buf.write(s, start);
    const size = length < 0x20 ? 1 : length < 0x100 ? 2 : length < 0x10000 ? 3 : 5;
    if (size !== guess) this.buf.copyWithin(this.pos + size, start, start + length);
    const b = this.buf;
    if (size === 1) b[this.pos++] = 0xa0 | length;
    else if (size === 2) {
      b[this.pos++] = 0xd9;
      b[this.pos++] = length;
    } else if (size === 3) this.u16(0xda, length);
    else this.u32(0xdb, length);
    this.pos += length;
  }

  /** A number as msgpackr writes it (see the header): ints by width, everything else float 64. */
  number(v: number): void {
    this.ensure(9);
    const b = this.buf;
    if (v >>> 0 === v) {
      if (v < 0x80) b[this.pos++] = v;
      else if (v < 0x100) {
        b[this.pos++] = 0xcc;
        b[this.pos++] = v;
      } else if (v < 0x10000) this.u16(0xcd, v);
      else this.u32(0xce, v);
    } else if (v >> 0 === v) {
      if (v >= -0x20) b[this.pos++] = 0x100 + v;
      else if (v >= -0x80) {
        b[this.pos++] = 0xd0;
        b[this.pos++] = v + 0x100;
      } else if (v >= -0x8000) {
        b[this.pos++] = 0xd1;
        this.view.setInt16(this.pos, v);
        this.pos += 2;
      } else {
        b[this.pos++] = 0xd2;
        this.view.setInt32(this.pos, v);
        this.pos += 4;
      }
    } else {
      b[this.pos++] = 0xcb;
      this.view.setFloat64(this.pos, v);
      this.pos += 8;
    }
  }

  bool(v: boolean): void {
    this.ensure(1);
    this.buf[this.pos++] = v ? 0xc3 : 0xc2;
  }

  nil(): void {
    this.ensure(1);
    this.buf[this.pos++] = 0xc0;
  }

  /** Bytes written elsewhere (a key, a constant prefix), copied as they are. */
  raw(bytes: Uint8Array): void {
    const n = bytes.length;
    this.ensure(n);
    // a loop beats the native copy's call cost for the few bytes of a key
    if (n < 32) for (let i = 0; i < n; i++) this.buf[this.pos + i] = bytes[i]!;
    else this.buf.set(bytes, this.pos);
    this.pos += n;
  }

  /** Bytes held as a string of one char per byte (see `raw`; a string keeps them in one object). */
  latin1(bytes: string): void {
    const n = bytes.length;
    this.ensure(n);
    const b = this.buf;
    const at = this.pos;
    for (let i = 0; i < n; i++) b[at + i] = bytes.charCodeAt(i);
    this.pos = at + n;
  }

  private u16(head: number, v: number): void {
    this.buf[this.pos] = head;
    this.buf[this.pos + 1] = v >> 8;
    this.buf[this.pos + 2] = v & 0xff;
    this.pos += 3;
  }

  private u32(head: number, v: number): void {
    this.buf[this.pos] = head;
    this.view.setUint32(this.pos + 1, v);
    this.pos += 5;
  }

  /** UTF-8 of a short string at `at` (a JS loop: cheaper than a native call for peer ids); its length. */
  private utf8Short(s: string, at: number): number {
    const b = this.buf;
    let p = at;
    for (let i = 0; i < s.length; i++) {
      let c = s.charCodeAt(i);
      if (c < 0x80) b[p++] = c;
      else if (c < 0x800) {
        b[p++] = (c >> 6) | 0xc0;
        b[p++] = (c & 0x3f) | 0x80;
      } else if ((c & 0xfc00) === 0xd800 && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
        c = 0x10000 + ((c & 0x3ff) << 10) + (s.charCodeAt(++i) & 0x3ff);
        b[p++] = (c >> 18) | 0xf0;
        b[p++] = ((c >> 12) & 0x3f) | 0x80;
        b[p++] = ((c >> 6) & 0x3f) | 0x80;
        b[p++] = (c & 0x3f) | 0x80;
      } else if ((c & 0xf800) === 0xd800) {
        // a lone surrogate: U+FFFD, as utf8Write and msgpackr write it
        b[p++] = 0xef;
        b[p++] = 0xbf;
        b[p++] = 0xbd;
      } else {
        b[p++] = (c >> 12) | 0xe0;
        b[p++] = ((c >> 6) & 0x3f) | 0x80;
        b[p++] = (c & 0x3f) | 0x80;
      }
    }
    return p - at;
  }
}

/** The msgpack bytes of a string, e.g. a map key written many times. */
export function strBytes(s: string): Uint8Array {
  const w = new MsgpackWriter(s.length * 3 + 8);
  w.str(s);
  return w.copy();
}
