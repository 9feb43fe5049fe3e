// The NATS side of every actor: connect, serve a request subject with validation and error
// replies, request with typed replies, publish and subscribe to validated messages. Wraps the
// `nats` client's errors into ours at this boundary.
import { connect, type Msg, type MsgHdrs, type NatsConnection, type Subscription, type ConnectionOptions } from 'nats';
import type { z } from 'zod';
import type { Logger } from 'winston';
import { decode, decodeLight, decodeRaw, encode, errorReply } from '../protocol/codec.js';
import { Light, type LightSchema } from '../protocol/checked-replies.js';
import { fitsOrError, maxPayload, tryEncode } from './bus-fit.js';
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
  /** what a `shortcut` learnt about the bytes, for the handler (e.g. their digest) */
  digest?: string;
}

export interface ServeOptions {
  queue?: string;
  log: Logger;
  what: string;
  /** answers from the raw bytes when it can (anything but undefined), before any decoding */
  shortcut?: (meta: MessageMeta) => unknown;
}

/** Replies waiting for the end of this turn of the event loop (see queueReply). */
let pendingReplies: Array<{ m: Msg; data: Uint8Array; subject: string; log: Logger }> = [];

/**
 * Send a reply once the requests that arrived with this one have been answered too: the broker
 * client writes what is published within one microtask run in one write, and the answers of one
 * socket read come out over several (each handler awaits), so replied at once each went out in a
 * write of its own (bench/README.md, "the tracker's replies"). setImmediate runs right after this
 * turn's I/O callbacks and their microtasks: no timer, no added wait beyond the batch itself.
 */
function queueReply(m: Msg, data: Uint8Array, subject: string, log: Logger): void {
  pendingReplies.push({ m, data, subject, log });
  if (pendingReplies.length === 1) setImmediate(flushReplies);
}

function flushReplies(): void {
  const batch = pendingReplies;
  pendingReplies = [];
  for (const r of batch) {
    try {
      r.m.respond(r.data);
    } catch (e) {
      r.log.warn('reply failed', { subject: r.subject, err: (e as Error).message });
    }
  }
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
          const meta: MessageMeta = { subject: m.subject, data: m.data, headers: m.headers };
          reply = opts.shortcut ? await opts.shortcut(meta) : undefined;
          if (reply === undefined) reply = await handler(decode(schema, m.data, opts.what), meta);
        } catch (e) {
          const p = toP2PError(e);
          if (p.code === 'INTERNAL') opts.log.error('handler failed', { subject, err: p.message, stack: (e as Error).stack });
          else opts.log.warn('request refused', { subject, code: p.code, err: p.message });
          reply = errorReply(p);
        }
        if (!m.reply) return;
        queueReply(m, fitsOrError(nc, reply, subject, opts.log), subject, opts.log);
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

export { fitToPayload, maxPayload } from './bus-fit.js';
