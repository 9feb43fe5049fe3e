// The replies and events the `p2p` CLI reads (list, peers, status, trace, intent, cancel, progress,
// errors) as checked decoders that load no zod: zod and the schemas cost ~110 ms of a `p2p ls`
// that should take ~3 × a bare `node` (issue 10, bench `startup-*`). Same contract as checked.ts:
// never looser than the zod schema in messages.ts, same output when both accept
// (test/unit/checked-replies.test.ts); what a check refuses, its zod schema (loaded then, and only
// then) refuses with the field's name, or accepts after all.
import type { z } from 'zod';
import { PROTOCOL_VERSION } from './ids.js';
import { endpoint, fileMeta, intIn, isFileId, isName, isObj, isToken, type Obj } from './checked.js';
import type * as M from './messages.js';

/** A message the CLI reads: its check, and its zod schema, loaded only to name what is wrong. */
export interface LightSchema<T> {
  readonly light: true;
  readonly check: (v: unknown) => T | undefined;
  readonly schema: () => Promise<z.ZodType<T>>;
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;
const safe = (v: unknown): v is number => intIn(v, 0, MAX_SAFE);
const str = (v: unknown, max: number): v is string => typeof v === 'string' && v.length <= max;
const head = (v: Obj, ok: boolean) => v.v === PROTOCOL_VERSION && v.ok === ok;

/** Every item of `raw` (an array of at most `max`) through `item`, or undefined if one fails. */
function list<T>(raw: unknown, max: number, item: (v: unknown) => T | undefined): T[] | undefined {
  if (!Array.isArray(raw) || raw.length > max) return undefined;
  const out: T[] = new Array(raw.length);
  for (let i = 0; i < raw.length; i++) {
    const x = item(raw[i]);
    if (x === undefined) return undefined;
    out[i] = x;
  }
  return out;
}

/** Copy the optional keys that are present and pass `ok`; false when one is present and fails. */
function optional(from: Obj, to: Obj, keys: readonly string[], ok: (v: unknown) => boolean): boolean {
  for (const k of keys) {
    const v = from[k];
    if (v === undefined) continue;
    if (!ok(v)) return false;
    to[k] = v;
  }
  return true;
}

export function checkErrorReply(v: unknown): M.ErrorReply | undefined {
  if (!isObj(v) || !head(v, false) || !str(v.code, 64) || !str(v.message, 4096)) return undefined;
  return { v: PROTOCOL_VERSION, ok: false, code: v.code, message: v.message };
}

export function checkAck(v: unknown): M.Ack | undefined {
  return isObj(v) && head(v, true) ? { v: PROTOCOL_VERSION, ok: true } : undefined;
}

function listEntry(v: unknown): M.ListEntry | undefined {
  const meta = fileMeta(v);
  if (!meta || !safe((v as Obj).sources)) return undefined;
  return { ...meta, sources: (v as Obj).sources as number };
}

export function checkListReply(v: unknown): M.ListReply | undefined {
  if (!isObj(v) || !head(v, true) || !safe(v.total) || !safe(v.peers)) return undefined;
  const files = list(v.files, 2000, listEntry);
  return files && { v: PROTOCOL_VERSION, ok: true, total: v.total, files, peers: v.peers };
}

function peerEntry(v: unknown): M.PeerEntry | undefined {
  if (!isObj(v) || !isToken(v.peerId) || !safe(v.files) || !safe(v.lastSeen)) return undefined;
  const ep = endpoint(v.endpoint);
  return ep && { peerId: v.peerId, endpoint: ep, files: v.files, lastSeen: v.lastSeen };
}

export function checkPeersReply(v: unknown): M.PeersReply | undefined {
  if (!isObj(v) || !head(v, true) || !safe(v.total)) return undefined;
  const peers = list(v.peers, 1000, peerEntry);
  return peers && { v: PROTOCOL_VERSION, ok: true, total: v.total, peers };
}

export function checkIntentReply(v: unknown): M.IntentReply | undefined {
  if (!isObj(v) || !head(v, true) || !isToken(v.downloadId) || typeof v.attached !== 'boolean') return undefined;
  return { v: PROTOCOL_VERSION, ok: true, downloadId: v.downloadId, attached: v.attached };
}

const STATUSES: ReadonlySet<unknown> = new Set<M.DownloadStatus>(['running', 'done', 'already-present', 'failed', 'cancelled']);
const SAFE_COUNTS = ['verifiedChunks', 'totalChunks', 'bytes', 'totalBytes', 'sources'] as const;

function downloadInfo(v: unknown): M.DownloadInfo | undefined {
  if (!isObj(v) || !isToken(v.downloadId) || !str(v.target, 255) || !str(v.state, 64) || !STATUSES.has(v.status)) return undefined;
  for (const k of SAFE_COUNTS) if (!safe(v[k])) return undefined;
  if (typeof v.rateBps !== 'number' || !Number.isFinite(v.rateBps) || v.rateBps < 0) return undefined;
  if (!safe(v.attempts) || !safe(v.startedAt) || (v.retries !== undefined && !safe(v.retries))) return undefined;
  const out: Obj = { downloadId: v.downloadId, target: v.target };
  if (!optional(v, out, ['fileId'], (x) => isFileId(x)) || !optional(v, out, ['name'], isName)) return undefined;
  out.state = v.state;
  out.status = v.status;
  for (const k of SAFE_COUNTS) out[k] = v[k];
  out.rateBps = v.rateBps;
  out.retries = v.retries ?? 0;
  out.attempts = v.attempts;
  if (!optional(v, out, ['path'], (x) => str(x, 4096))) return undefined;
  if (v.error !== undefined) {
    const e = v.error;
    if (!isObj(e) || !str(e.code, 64) || !str(e.message, 4096)) return undefined;
    out.error = { code: e.code, message: e.message };
  }
  out.startedAt = v.startedAt;
  if (!optional(v, out, ['finishedAt'], safe)) return undefined;
  return out as M.DownloadInfo;
}

export function checkProgressEvent(v: unknown): M.ProgressEvent | undefined {
  if (!isObj(v) || v.v !== PROTOCOL_VERSION || !isToken(v.peerId)) return undefined;
  const info = downloadInfo(v);
  return info && { ...info, v: PROTOCOL_VERSION, peerId: v.peerId };
}

function sharedFile(v: unknown): M.SharedFile | undefined {
  const meta = fileMeta(v);
  if (!meta) return undefined;
  const { origin, path } = v as Obj;
  if ((origin !== 'shared' && origin !== 'downloads') || !str(path, 4096)) return undefined;
  return { ...meta, origin, path };
}

export function checkStatusReply(v: unknown): M.StatusReply | undefined {
  if (!isObj(v) || !head(v, true) || !isToken(v.peerId) || !str(v.dir, 4096)) return undefined;
  const ep = endpoint(v.endpoint);
  const shared = list(v.shared, 10_000, sharedFile);
  const downloads = list(v.downloads, 10_000, downloadInfo);
  const served = v.served;
  if (!ep || !shared || !downloads || !isObj(served) || !safe(served.chunks) || !safe(served.bytes)) return undefined;
  const out: Obj = { v: PROTOCOL_VERSION, ok: true, peerId: v.peerId, endpoint: ep, dir: v.dir, shared, downloads, served: { chunks: served.chunks, bytes: served.bytes } };
  return optional(v, out, ['sharedTotal', 'downloadsTotal', 'next'], safe) ? (out as M.StatusReply) : undefined;
}

const TRACE_COUNTS = ['seq', 'ts', 'verifiedChunks', 'totalChunks', 'bytes', 'sources'] as const;

function traceEntry(v: unknown): M.TraceEntry | undefined {
  if (!isObj(v) || !isToken(v.downloadId) || !str(v.from, 64) || !str(v.to, 64) || !str(v.event, 64) || typeof v.final !== 'boolean') return undefined;
  for (const k of TRACE_COUNTS) if (!safe(v[k])) return undefined;
  if (!safe(v.attempts) || (v.retries !== undefined && !safe(v.retries))) return undefined;
  const out: Obj = { downloadId: v.downloadId };
  out.seq = v.seq;
  out.ts = v.ts;
  out.from = v.from;
  out.to = v.to;
  out.event = v.event;
  for (const k of TRACE_COUNTS.slice(2)) out[k] = v[k];
  out.retries = v.retries ?? 0;
  out.attempts = v.attempts;
  if (!optional(v, out, ['detail'], (x) => str(x, 1024))) return undefined;
  out.final = v.final;
  return out as M.TraceEntry;
}

export function checkTraceEvent(v: unknown): M.TraceEvent | undefined {
  if (!isObj(v) || v.v !== PROTOCOL_VERSION || !isToken(v.peerId)) return undefined;
  const entry = traceEntry(v);
  return entry && { ...entry, v: PROTOCOL_VERSION, peerId: v.peerId };
}

export function checkTraceReply(v: unknown): M.TraceReply | undefined {
  if (!isObj(v) || !head(v, true) || !safe(v.truncated) || typeof v.finished !== 'boolean') return undefined;
  const entries = list(v.entries, 5000, traceEntry);
  if (!entries) return undefined;
  const out: Obj = { v: PROTOCOL_VERSION, ok: true, entries, truncated: v.truncated, finished: v.finished };
  return optional(v, out, ['total', 'next'], safe) ? (out as M.TraceReply) : undefined;
}

const messages = () => import('./messages.js');
const light = <T>(check: (v: unknown) => T | undefined, pick: (m: typeof M) => z.ZodType<T>): LightSchema<T> => ({
  light: true,
  check,
  schema: () => messages().then(pick),
});

/** The CLI's replies, by the name of their schema in messages.ts. */
export const Light = {
  ErrorReply: light(checkErrorReply, (m) => m.ErrorReply),
  Ack: light(checkAck, (m) => m.Ack),
  ListReply: light(checkListReply, (m) => m.ListReply),
  PeersReply: light(checkPeersReply, (m) => m.PeersReply),
  IntentReply: light(checkIntentReply, (m) => m.IntentReply),
  ProgressEvent: light(checkProgressEvent, (m) => m.ProgressEvent),
  StatusReply: light(checkStatusReply, (m) => m.StatusReply),
  TraceReply: light(checkTraceReply, (m) => m.TraceReply),
  TraceEvent: light(checkTraceEvent, (m) => m.TraceEvent),
};
