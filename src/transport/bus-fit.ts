// Replies that outgrow the bus: the largest message we may send, an encoded reply or a TOO_LARGE
// error in its place (never a reply dropped in silence), and the longest page that fits.
import type { NatsConnection } from 'nats';
import type { Logger } from 'winston';
import { encode, errorReply, MAX_MESSAGE_BYTES } from '../protocol/codec.js';
import { P2PError, TooLargeError } from '../errors.js';

/** The largest message we may send: the broker's max payload, and our codec's own limit. */
export function maxPayload(nc: NatsConnection): number {
  return Math.min(nc.info?.max_payload ?? 1024 * 1024, MAX_MESSAGE_BYTES);
}

/** `encode(message)`, or undefined when it is over the codec's limit. */
export function tryEncode(message: unknown): Uint8Array | undefined {
  try {
    return encode(message);
  } catch (err) {
    if (err instanceof P2PError && err.code === 'PROTOCOL_ERROR') return undefined;
    throw err;
  }
}

/** Bytes kept free under the max payload for the reply's envelope (headers, our own fields). */
const ENVELOPE_BYTES = 4096;

/**
 * The encoded reply, or, when it is over the broker's max payload, an encoded TOO_LARGE error
 * reply naming both sizes: a reply is never dropped in silence (the asker would only see a
 * timeout and say the responder does not answer).
 */
export function fitsOrError(nc: NatsConnection, reply: unknown, subject: string, log: Logger): Uint8Array {
  const bytes = tryEncode(reply);
  const max = maxPayload(nc);
  if (bytes && bytes.length <= max) return bytes;
  const size = bytes ? `${bytes.length} bytes` : `over ${MAX_MESSAGE_BYTES} bytes`;
  log.warn('reply over the max payload, answered with TOO_LARGE', { subject, size, max });
  return encode(errorReply(new TooLargeError(`the reply is ${size}, over the broker's max payload of ${max} bytes: ask for less (a page, a cursor)`)));
}

/**
 * `reply` with its array `key` cut to the longest prefix whose encoded reply fits the broker's max
 * payload (shrunk by the measured size ratio; `limit` caps it further). `next` is the index to continue
 * from (undefined when everything fitted): a page, for replies that can grow without bound.
 */
export function fitToPayload<R extends Record<K, unknown[]>, K extends string>(
  nc: NatsConnection,
  reply: R,
  key: K,
  limit = Number.MAX_SAFE_INTEGER,
): { reply: R; next: number | undefined } {
  const items = reply[key];
  const budget = maxPayload(nc) - ENVELOPE_BYTES;
  const sizeOf = (n: number) => tryEncode({ ...reply, [key]: items.slice(0, n) })?.length ?? Infinity;
  // shrink by the measured ratio (a few encodes, not a search over every length)
  let n = Math.min(items.length, limit);
  for (let size = sizeOf(n); size > budget && n > 0; size = sizeOf(n)) {
    n = size === Infinity ? n >>> 1 : Math.min(n - 1, Math.floor(n * (budget / size) * 0.98));
  }
  return { reply: n === items.length ? reply : { ...reply, [key]: items.slice(0, n) }, next: n < items.length ? n : undefined };
}
