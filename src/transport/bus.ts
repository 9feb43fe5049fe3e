// The NATS side of every actor: connect, serve a request subject with validation and error
// replies, request with typed replies, publish and subscribe to validated messages. Wraps the
// `nats` client's errors into ours at this boundary.
import { connect, type MsgHdrs, type NatsConnection, type Subscription, type ConnectionOptions } from 'nats';
import type { z } from 'zod';
import type { Logger } from 'winston';
import { decode, decodeLight, decodeRaw, encode, errorReply, MAX_MESSAGE_BYTES } from '../protocol/codec.js';
import { Light, type LightSchema } from '../protocol/checked-replies.js';
import type { At, EventRoute, RequestRoute } from '../protocol/routes.js';
import { AuthFailedError, BrokerUnavailableError, PermissionDeniedError, errorFromCode, TimeoutError, TooLargeError, UnknownPeerError, P2PError, toP2PError } from '../errors.js';

export interface BusConnectOptions {
  url: string;
  name: string;
  /** keep trying forever after a disconnect (actors) or fail fast (CLI) */
  reconnect: boolean;
  /** extra nats.connect options (credentials, TLS) */
  extra?: Partial<ConnectionOptions>;
  timeoutMs?: number;
}

/** Connect to the broker; a clear BrokerUnavailableError when it does not answer. */
export async function connectBus(opts: BusConnectOptions): Promise<NatsConnection> {
  try {
    return await connect({
      servers: opts.url.split(',').map((s) => s.trim()),
      name: opts.name,
      timeout: opts.timeoutMs ?? 3000,
      reconnect: opts.reconnect,
      maxReconnectAttempts: opts.reconnect ? -1 : 0,
      reconnectTimeWait: 500,
      waitOnFirstConnect: false,
      pingInterval: 10_000,
      ...opts.extra,
    });
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'AUTHORIZATION_VIOLATION' || /authori[sz]ation violation|user authentication/i.test((err as Error).message)) {
      throw new AuthFailedError(
        `the NATS broker at ${opts.url} refused our credentials (${(err as Error).message}); check --nats-user/--nats-pass, --nats-token, --nats-creds or the P2P_NATS_* settings`,
        { cause: err },
      );
    }
    throw new BrokerUnavailableError(
      `cannot reach the NATS broker at ${opts.url} (${(err as Error).message}); start one (nats-server -js) or set --nats / P2P_NATS_URL`,
      { cause: err },
    );
  }
}

/**
 * Log what the connection goes through (disconnect, reconnect, permission violations) until it
 * closes. Permission violations are the broker refusing a subject this identity may not use.
 */
export function watchConnection(nc: NatsConnection, log: Logger): void {
  void (async () => {
    for await (const s of nc.status()) {
      const data = typeof s.data === 'string' ? s.data : JSON.stringify(s.data);
      if (s.type === 'error' || /permission/i.test(data)) log.warn('broker refused an operation', { type: s.type, detail: data });
      else if (s.type === 'disconnect') log.warn('disconnected from the broker', { server: data });
      else if (s.type === 'reconnect') log.info('reconnected to the broker', { server: data });
      else log.debug('connection status', { type: s.type, detail: data });
    }
  })().catch(() => undefined);
}

/** The raw message beside its decoded form, for handlers that check signatures. */
export interface MessageMeta {
  subject: string;
  data: Uint8Array;
  headers: MsgHdrs | undefined;
}

export interface ServeOptions {
  queue?: string;
  log: Logger;
  what: string;
}

/**
 * Answer requests on `subject`: decode + validate with `schema`, call `handler`, reply with its
 * result or with `{ ok: false, code, message }`. Publishes (no reply subject) that fail are
 * dropped with a log line. The handler never sees unvalidated input, and nothing here throws.
 */
export function serve<S extends z.ZodType>(
  nc: NatsConnection,
  subject: string,
  schema: S,
  handler: (msg: z.output<S>, meta: MessageMeta) => Promise<unknown> | unknown,
  opts: ServeOptions,
): Subscription {
  return nc.subscribe(subject, {
    queue: opts.queue,
    callback: (err, m) => {
      if (err) {
        opts.log.warn('subscription error', { subject, err: err.message });
        return;
      }
      void (async () => {
        let reply: unknown;
        try {
          const input = decode(schema, m.data, opts.what);
          reply = await handler(input, { subject: m.subject, data: m.data, headers: m.headers });
        } catch (e) {
          const p = toP2PError(e);
          if (p.code === 'INTERNAL') opts.log.error('handler failed', { subject, err: p.message, stack: (e as Error).stack });
          else opts.log.warn('request refused', { subject, code: p.code, err: p.message });
          reply = errorReply(p);
        }
        if (!m.reply) return;
        try {
          m.respond(fitsOrError(nc, reply, subject, opts.log));
        } catch (e) {
          opts.log.warn('reply failed', { subject, err: (e as Error).message });
        }
      })();
    },
  });
}

/** Subscribe to published messages, validating each; bad ones are dropped with a log line. */
export function listen<S extends z.ZodType>(
  nc: NatsConnection,
  subject: string,
  schema: S,
  handler: (msg: z.output<S>, meta: MessageMeta) => void | Promise<void>,
  opts: ServeOptions,
): Subscription {
  return nc.subscribe(subject, {
    queue: opts.queue,
    callback: (err, m) => {
      if (err) {
        opts.log.warn('subscription error', { subject, err: err.message });
        return;
      }
      let input: z.output<S>;
      try {
        input = decode(schema, m.data, opts.what);
      } catch (e) {
        opts.log.warn('message dropped', { subject: m.subject, err: (e as Error).message });
        return;
      }
      Promise.resolve()
        .then(() => handler(input, { subject: m.subject, data: m.data, headers: m.headers }))
        .catch((e) => opts.log.error('handler failed', { subject: m.subject, err: (e as Error).message }));
    },
  });
}

export interface RequestOptions {
  timeoutMs: number;
  /** what to call the responder in error messages, e.g. "peer alice" */
  who: string;
  /** error to throw when nobody is subscribed (default: BrokerUnavailable-ish UnknownPeer) */
  noResponders?: () => P2PError;
  /** headers for the encoded payload (e.g. a signature) */
  sign?: (subject: string, payload: Uint8Array) => MsgHdrs;
}

/**
 * Request/reply with a typed, validated answer; `{ ok:false }` replies become our errors. The
 * schema is a zod schema or, for the CLI (which should not load zod), a LightSchema.
 */
export async function request<S extends z.ZodType>(nc: NatsConnection, subject: string, message: unknown, schema: S, opts: RequestOptions): Promise<z.output<S>>;
export async function request<T>(nc: NatsConnection, subject: string, message: unknown, schema: LightSchema<T>, opts: RequestOptions): Promise<T>;
export async function request(nc: NatsConnection, subject: string, message: unknown, schema: z.ZodType | LightSchema<unknown>, opts: RequestOptions): Promise<unknown> {
  let data: Uint8Array;
  const payload = tryEncode(message);
  const max = maxPayload(nc);
  if (!payload || payload.length > max) throw new TooLargeError(`request to ${opts.who} is over the max payload of ${max} bytes`);
  try {
    const m = await nc.request(subject, payload, { timeout: opts.timeoutMs, headers: opts.sign?.(subject, payload) });
    data = m.data;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'MAX_PAYLOAD_EXCEEDED') throw new TooLargeError(`request to ${opts.who} is over the broker's max payload`, { cause: err });
    if (code === '503') throw opts.noResponders ? opts.noResponders() : new UnknownPeerError(`no ${opts.who} is answering`);
    if (code === 'TIMEOUT') throw new TimeoutError(`${opts.who} did not answer within ${opts.timeoutMs} ms`);
    if (code === 'PERMISSIONS_VIOLATION' || /permissions violation/i.test((err as Error).message)) {
      throw new PermissionDeniedError(`the broker does not let this identity ask ${opts.who} (${(err as Error).message})`, { cause: err });
    }
    throw new BrokerUnavailableError(`request to ${opts.who} failed: ${(err as Error).message}`, { cause: err });
  }
  const raw = decodeRaw(data) as { ok?: unknown } | null;
  if (raw && typeof raw === 'object' && raw.ok === false) {
    const e = await decodeLight(Light.ErrorReply, data, `error reply from ${opts.who}`);
    throw errorFromCode(e.code, e.message);
  }
  if ('light' in schema) return decodeLight(schema, data, `reply from ${opts.who}`);
  return decode(schema, data, `reply from ${opts.who}`);
}

/** Publish, never throwing (a closed connection is logged). */
export function publish(nc: NatsConnection, subject: string, message: unknown, log: Logger, sign?: RequestOptions['sign']): void {
  try {
    const payload = encode(message);
    if (payload.length > maxPayload(nc)) {
      log.warn('publish dropped: over the max payload', { subject, bytes: payload.length, max: maxPayload(nc) });
      return;
    }
    nc.publish(subject, payload, sign ? { headers: sign(subject, payload) } : undefined);
  } catch (err) {
    log.debug('publish failed', { subject, err: (err as Error).message });
  }
}

// ---- typed routes (src/protocol/routes.ts): both ends typed from one table entry ------------

/** Answer a route: its request schema validates, the handler must return its reply's shape. */
export function serveRoute<Q extends z.ZodType, R extends z.ZodType>(
  nc: NatsConnection,
  to: At<RequestRoute<string[], Q, R>>,
  handler: (msg: z.output<Q>, meta: MessageMeta) => Promise<z.input<R>> | z.input<R>,
  opts: { queue?: string; log: Logger },
): Subscription {
  return serve(nc, to.subject, to.route.request, handler, { ...opts, what: to.route.what });
}

/** Ask a route: the message must have its request's shape; the reply is validated with its schema. */
export function requestRoute<Q extends z.ZodType, R extends z.ZodType>(
  nc: NatsConnection,
  to: At<RequestRoute<string[], Q, R>>,
  message: z.input<Q>,
  opts: RequestOptions,
): Promise<z.output<R>> {
  return request(nc, to.subject, message, to.route.reply, opts);
}

/** Publish on an event route (never throws). */
export function publishEvent<M extends z.ZodType>(nc: NatsConnection, to: At<EventRoute<string[], M>>, message: z.input<M>, log: Logger, sign?: RequestOptions['sign']): void {
  publish(nc, to.subject, message, log, sign);
}

/** Listen on an event route; bad messages are dropped with a log line. */
export function listenEvent<M extends z.ZodType>(
  nc: NatsConnection,
  to: At<EventRoute<string[], M>>,
  handler: (msg: z.output<M>, meta: MessageMeta) => void | Promise<void>,
  opts: { queue?: string; log: Logger },
): Subscription {
  return listen(nc, to.subject, to.route.message, handler, { ...opts, what: to.route.what });
}

// ---- replies that outgrow the bus -----------------------------------------------------------

/** The largest message we may send: the broker's max payload, and our codec's own limit. */
export function maxPayload(nc: NatsConnection): number {
  return Math.min(nc.info?.max_payload ?? 1024 * 1024, MAX_MESSAGE_BYTES);
}

/** `encode(message)`, or undefined when it is over the codec's limit. */
function tryEncode(message: unknown): Uint8Array | undefined {
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
function fitsOrError(nc: NatsConnection, reply: unknown, subject: string, log: Logger): Uint8Array {
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
