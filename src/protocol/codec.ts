// The one msgpack codec for NATS messages. `decode` checks size, refuses extension types and
// prototype keys, bounds nesting depth, then validates against a zod schema before returning,
// so nothing unchecked from the network reaches an actor.
import { Packr } from 'msgpackr';
import type { z } from 'zod';
import { ProtocolError, UnsupportedVersionError, P2PError, type ErrorCode } from '../errors.js';
import type { ErrorReply } from './messages.js';
import { PROTOCOL_VERSION } from './ids.js';
import { checkedOf, readerOf } from './checked.js';
import type { LightSchema } from './checked-replies.js';

/** Largest message we accept or send: well under NATS' default 1 MiB max_payload. */
export const MAX_MESSAGE_BYTES = 900 * 1024;
/** Deepest nesting any of our messages needs is 4; leave room, refuse abuse. */
export const MAX_DEPTH = 16;

// useRecords: false — NATS messages are independent, no shared structure table.
// mapsAsObjects: true — maps decode to plain objects (then checked for hostile keys below).
const packr = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: false, int64AsType: 'number' });

/**
 * A message already encoded, byte for byte as encode() would (e.g. a lookup reply written straight
 * from the registry by src/tracker/lookup-reply.ts): encode() passes its bytes through, so a
 * handler can return it to serve() like any reply.
 */
export class Encoded {
  constructor(readonly bytes: Uint8Array) {}
}

/** Encode a message for NATS. Throws ProtocolError if it would exceed MAX_MESSAGE_BYTES. */
export function encode(message: unknown): Uint8Array {
  const bytes = message instanceof Encoded ? message.bytes : packr.pack(hasUndefined(message, 0) ? withoutUndefined(message) : message);
  if (bytes.length > MAX_MESSAGE_BYTES) {
    throw new ProtocolError(`message of ${bytes.length} bytes exceeds the ${MAX_MESSAGE_BYTES}-byte limit`);
  }
  return bytes;
}

/** Any object key set to `undefined`, at any depth? (The common answer, no, costs no copy.) */
function hasUndefined(value: unknown, depth: number): boolean {
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array || depth > MAX_DEPTH) return false;
  if (Array.isArray(value)) {
    for (const v of value) if (hasUndefined(v, depth + 1)) return true;
    return false;
  }
  for (const k in value) {
    const v = (value as Record<string, unknown>)[k];
    if (v === undefined || hasUndefined(v, depth + 1)) return true;
  }
  return false;
}

/** msgpackr writes `undefined` as an extension type (which decode refuses): leave such keys out. */
function withoutUndefined(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return value;
  if (Array.isArray(value)) return value.map(withoutUndefined);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = withoutUndefined(v);
  return out;
}

/**
 * Scan raw msgpack for nesting depth and extension types without building anything, so a
 * hostile 1 MB of nested arrays cannot blow the stack. Returns an error text or undefined.
 */
export function scanMsgpack(buf: Uint8Array): string | undefined {
  // pending[i] = number of items still to read at depth i
  const pending: number[] = [1];
  let pos = 0;
  const need = (n: number) => {
    if (pos + n > buf.length) throw new ProtocolError('truncated msgpack');
  };
  const u8 = () => {
    need(1);
    return buf[pos++]!;
  };
  const uint = (n: number) => {
    need(n);
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 256 + buf[pos++]!;
    return v;
  };
  const skip = (n: number) => {
    need(n);
    pos += n;
  };
  try {
    while (pending.length > 0) {
      if (pending[pending.length - 1] === 0) {
        pending.pop();
        continue;
      }
      pending[pending.length - 1]!--;
      const b = u8();
      let children = 0;
      if (b <= 0x7f || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) children = 0;
      else if (b >= 0x80 && b <= 0x8f) children = (b & 0x0f) * 2;
      else if (b >= 0x90 && b <= 0x9f) children = b & 0x0f;
      else if (b >= 0xa0 && b <= 0xbf) skip(b & 0x1f);
      else if (b === 0xc4 || b === 0xd9) skip(uint(1));
      else if (b === 0xc5 || b === 0xda) skip(uint(2));
      else if (b === 0xc6 || b === 0xdb) skip(uint(4));
      else if (b === 0xca) skip(4);
      else if (b === 0xcb) skip(8);
      else if (b === 0xcc || b === 0xd0) skip(1);
      else if (b === 0xcd || b === 0xd1) skip(2);
      else if (b === 0xce || b === 0xd2) skip(4);
      else if (b === 0xcf || b === 0xd3) skip(8);
      else if (b === 0xdc) children = uint(2);
      else if (b === 0xdd) children = uint(4);
      else if (b === 0xde) children = uint(2) * 2;
      else if (b === 0xdf) children = uint(4) * 2;
      else if ((b >= 0xd4 && b <= 0xd8) || (b >= 0xc7 && b <= 0xc9)) return 'msgpack extension types are not accepted';
      else return `invalid msgpack byte 0x${b.toString(16)}`;
      if (children > 0) {
        if (children > buf.length - pos) return 'msgpack container larger than the message';
        if (pending.length >= MAX_DEPTH) return `msgpack nested deeper than ${MAX_DEPTH}`;
        pending.push(children);
      }
    }
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
  if (pos !== buf.length) return 'trailing bytes after msgpack value';
  return undefined;
}

// msgpackr renames a __proto__ key to __proto_ while decoding: refuse both spellings
const HOSTILE_KEYS = new Set(['__proto__', '__proto_', 'constructor', 'prototype']);

function hasHostileKey(value: unknown, depth = 0): boolean {
  if (depth > MAX_DEPTH || value === null || typeof value !== 'object') return false;
  if (Array.isArray(value)) return value.some((v) => hasHostileKey(v, depth + 1));
  if (value instanceof Uint8Array) return false;
  for (const key of Object.keys(value)) {
    if (HOSTILE_KEYS.has(key)) return true;
    if (hasHostileKey((value as Record<string, unknown>)[key], depth + 1)) return true;
  }
  return false;
}

/** Decode raw msgpack without a schema (after the same safety checks). */
export function decodeRaw(bytes: Uint8Array): unknown {
  if (bytes.length > MAX_MESSAGE_BYTES) {
    throw new ProtocolError(`message of ${bytes.length} bytes exceeds the ${MAX_MESSAGE_BYTES}-byte limit`);
  }
  if (bytes.length === 0) throw new ProtocolError('empty message');
  const problem = scanMsgpack(bytes);
  if (problem) throw new ProtocolError(problem);
  let value: unknown;
  try {
    value = packr.unpack(bytes);
  } catch (err) {
    throw new ProtocolError('message is not valid msgpack', { cause: err });
  }
  if (hasHostileKey(value)) throw new ProtocolError('message contains a forbidden key');
  return value;
}

/** Decode and validate. Throws ProtocolError or UnsupportedVersionError, never returns junk. */
export function decode<S extends z.ZodType>(schema: S, bytes: Uint8Array, what = 'message'): z.output<S> {
  // the announce is read in one pass when its bytes have the common shape (announce-reader.ts);
  // anything else, and every other message, takes the checks below
  if (bytes.length <= MAX_MESSAGE_BYTES) {
    const read = readerOf(schema)?.(bytes);
    if (read !== undefined) return read as z.output<S>;
  }
  const value = decodeRaw(bytes);
  checkVersion(value, what);
  // the hot messages have a hand-written checked decoder (checked.ts); what it refuses, or any
  // other schema, goes through zod, which names the field
  const fast = checkedOf(schema)?.(value);
  if (fast !== undefined) return fast as z.output<S>;
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? issue.path.join('.') : what;
    throw new ProtocolError(`invalid ${what}: ${where}: ${issue?.message ?? 'does not match its schema'}`);
  }
  return parsed.data;
}

/**
 * decode() for a message the CLI reads (checked-replies.ts): its check, without zod; what the
 * check refuses goes through the zod schema, loaded only then, which names the bad field.
 */
export async function decodeLight<T>(light: LightSchema<T>, bytes: Uint8Array, what = 'message'): Promise<T> {
  const value = decodeRaw(bytes);
  checkVersion(value, what);
  const fast = light.check(value);
  if (fast !== undefined) return fast;
  return decode(await light.schema(), bytes, what) as T;
}

/** decodeLight for a subscription callback (sync): undefined for anything that fails a check. */
export function tryDecodeLight<T>(light: LightSchema<T>, bytes: Uint8Array): T | undefined {
  try {
    const value = decodeRaw(bytes);
    checkVersion(value, 'message');
    return light.check(value);
  } catch {
    return undefined;
  }
}

function checkVersion(value: unknown, what: string): void {
  if (value !== null && typeof value === 'object' && 'v' in value && (value as { v: unknown }).v !== PROTOCOL_VERSION) {
    throw new UnsupportedVersionError(
      `${what} has protocol version ${JSON.stringify((value as { v: unknown }).v)}, this build speaks ${PROTOCOL_VERSION}`,
    );
  }
}

/** Build the `{ ok: false, code, message }` reply for an error. */
export function errorReply(err: unknown): ErrorReply {
  if (err instanceof P2PError) return { v: PROTOCOL_VERSION, ok: false, code: err.code, message: err.message.slice(0, 4000) };
  const message = err instanceof Error ? err.message : String(err);
  return { v: PROTOCOL_VERSION, ok: false, code: 'INTERNAL' satisfies ErrorCode, message: message.slice(0, 4000) };
}
