// The wire's table: every NATS subject with the schema of what is sent there and, for requests,
// of the reply. `serveRoute`/`requestRoute` and `publishEvent`/`listenEvent` (src/transport/bus.ts)
// take an entry of this table, so both ends of a message are typed from the same line.
import type { z } from 'zod';
import {
  Ack,
  AnnounceRequest,
  AvailabilityQuery,
  Bye,
  CancelRequest,
  ChunkAvailability,
  HeartbeatReply,
  HeartbeatRequest,
  IntentReply,
  IntentRequest,
  ListReply,
  ListRequest,
  LookupReply,
  LookupRequest,
  ProgressEvent,
  StatusReply,
  StatusRequest,
  TraceEvent,
  TraceReply,
  TraceRequest,
  TrackerHello,
} from './messages.js';
import { KeyReply, KeyRequest } from './key-messages.js';
import type { Subjects } from './subjects.js';

/** A request/reply subject: what is asked there and what comes back. */
export interface RequestRoute<A extends string[], Q extends z.ZodType, R extends z.ZodType> {
  kind: 'request';
  /** what to call it in logs and errors */
  what: string;
  subject: (s: Subjects, ...args: A) => string;
  request: Q;
  reply: R;
}

/** A publish subject: news nobody answers. */
export interface EventRoute<A extends string[], M extends z.ZodType> {
  kind: 'event';
  what: string;
  subject: (s: Subjects, ...args: A) => string;
  message: M;
}

const req = <A extends string[], Q extends z.ZodType, R extends z.ZodType>(
  what: string,
  subject: (s: Subjects, ...args: A) => string,
  request: Q,
  reply: R,
): RequestRoute<A, Q, R> => ({ kind: 'request', what, subject, request, reply });

const ev = <A extends string[], M extends z.ZodType>(what: string, subject: (s: Subjects, ...args: A) => string, message: M): EventRoute<A, M> => ({
  kind: 'event',
  what,
  subject,
  message,
});

/** Request/reply routes. Tracker ones are served in the trackers' queue group. */
export const Requests = {
  announce: req('announce', (s) => s.announce, AnnounceRequest, Ack),
  heartbeat: req('heartbeat', (s) => s.heartbeat, HeartbeatRequest, HeartbeatReply),
  lookup: req('lookup', (s) => s.lookup, LookupRequest, LookupReply),
  list: req('list', (s) => s.list, ListRequest, ListReply),
  key: req('key binding', (s) => s.key, KeyRequest, KeyReply),
  intent: req('intent', (s, peerId: string) => s.intent(peerId), IntentRequest, IntentReply),
  cancel: req('cancel', (s, peerId: string) => s.cancel(peerId), CancelRequest, Ack),
  status: req('status request', (s, peerId: string) => s.status(peerId), StatusRequest, StatusReply),
  trace: req('trace request', (s, peerId: string) => s.trace(peerId), TraceRequest, TraceReply),
};

/** Publish routes. */
export const Events = {
  bye: ev('bye', (s) => s.bye, Bye),
  hello: ev('tracker hello', (s) => s.hello, TrackerHello),
  progress: ev('progress', (s, peerId: string, downloadId: string) => s.progressOf(peerId, downloadId), ProgressEvent),
  trace: ev('trace event', (s, peerId: string, downloadId: string) => s.traceOf(peerId, downloadId), TraceEvent),
  availability: ev('chunk availability', (s, fileId: string) => s.avail(fileId), ChunkAvailability),
  availabilityQuery: ev('availability query', (s, fileId: string) => s.availQuery(fileId), AvailabilityQuery),
  /** every file's queries at once (a wildcard: only for listening) */
  availabilityQueries: ev('availability query', (s) => s.availQueries, AvailabilityQuery),
};

/** A route bound to its concrete subject (e.g. one peer's intent subject). */
export interface At<R> {
  route: R;
  subject: string;
}

/** Bind a route to its subject: `at(Requests.intent, subjects, 'alice')`. */
export function at<R extends AnyRoute>(route: R, s: Subjects, ...args: SubjectArgs<R>): At<R> {
  return { route, subject: (route.subject as (s: Subjects, ...a: string[]) => string)(s, ...args) };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyRoute = RequestRoute<any, z.ZodType, z.ZodType> | EventRoute<any, z.ZodType>;
type SubjectArgs<R> = R extends { subject: (s: Subjects, ...args: infer A) => string } ? A : never;
