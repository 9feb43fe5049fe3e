// The peer's replies that can grow without bound (issue 9, class 4), paged to fit the broker's max
// payload: a status (shared files, then downloads) and a trace (its entries). A reply carries
// `next` while more is left; the CLI follows it (see README's CLI reference, docs/protocol.md).
import type { NatsConnection } from 'nats';
import { PROTOCOL_VERSION, type DownloadInfo, type SharedFile, type StatusReply, type TraceReply } from '../src/protocol/messages.js';
import type { TraceFile } from '../src/store/traces.js';
import { fitToPayload, maxPayload } from '../src/transport/bus.js';

/** Most shared files, and most downloads, in one status page (the schema's limits). */
export const STATUS_PAGE = 10_000;
/** Most entries in one trace page (the schema's limit). */
export const TRACE_PAGE = 5000;

type StatusHead = Omit<StatusReply, 'shared' | 'downloads' | 'next' | 'sharedTotal' | 'downloadsTotal'>;

/**
 * One page of a status from `cursor`: the shared files from there, then the downloads, as many as
 * fit. `next` is set while anything is left (a cursor counts shared files, then downloads).
 */
export function statusPage(nc: NatsConnection, head: StatusHead, shared: readonly SharedFile[], downloads: readonly DownloadInfo[], cursor = 0): StatusReply {
  let reply: StatusReply = { ...head, sharedTotal: shared.length, downloadsTotal: downloads.length, shared: [], downloads: [] };
  if (cursor < shared.length) {
    reply = fitToPayload(nc, { ...reply, shared: shared.slice(cursor, cursor + STATUS_PAGE) }, 'shared').reply;
    const end = cursor + reply.shared.length;
    if (end < shared.length) return { ...reply, next: end };
  }
  const from = Math.max(0, cursor - shared.length);
  reply = fitToPayload(nc, { ...reply, downloads: downloads.slice(from, from + STATUS_PAGE) }, 'downloads').reply;
  const end = from + reply.downloads.length;
  return end < downloads.length ? { ...reply, next: shared.length + end } : reply;
}

/** Bytes of trace lines (JSON) to read for one page: msgpack is smaller, so a page read so fits. */
export function traceBudget(nc: NatsConnection): number {
  return maxPayload(nc) - 8 * 1024;
}

/** A trace page (read from `from`, or the last TRACE_PAGE entries, within traceBudget) made sure to fit; `next` goes on. */
export function tracePage(nc: NatsConnection, trace: TraceFile): TraceReply {
  const base: TraceReply = { v: PROTOCOL_VERSION, ok: true, entries: trace.entries, truncated: trace.truncated, finished: trace.finished, total: trace.total };
  const { reply, next } = fitToPayload(nc, base, 'entries', TRACE_PAGE);
  const end = next !== undefined ? trace.truncated + reply.entries.length : trace.end;
  return end < trace.total ? { ...reply, next: end } : reply;
}
