// Messages between the CLI (or anyone on the bus) and a peer: intents, cancels, status, progress
// and traces. Re-exported by messages.ts, the one place callers import wire messages from.
import { z } from 'zod';
import { DownloadId, Endpoint, FileId, FileMeta, FileName, PeerId, SafeInt, Version } from './wire-types.js';

// ---- peer ----------------------------------------------------------------------------------

/** CLI → peer (request): download this (a name or a fileId). */
export const IntentRequest = z.object({
  v: Version,
  target: z.string().min(1).max(255),
  /** Proposed by the caller so it can subscribe to progress before asking; peer may attach to another. */
  downloadId: DownloadId.optional(),
  maxRetries: z.number().int().min(0).max(1_000_000).optional(),
});
export type IntentRequest = z.infer<typeof IntentRequest>;
export const IntentReply = z.object({
  v: Version,
  ok: z.literal(true),
  downloadId: DownloadId,
  /** true when an identical download was already running and this intent joined it. */
  attached: z.boolean(),
});
export type IntentReply = z.infer<typeof IntentReply>;

export const CancelRequest = z.object({ v: Version, downloadId: DownloadId });
export type CancelRequest = z.infer<typeof CancelRequest>;

export const DownloadStatus = z.enum(['running', 'done', 'already-present', 'failed', 'cancelled']);
export type DownloadStatus = z.infer<typeof DownloadStatus>;

/** A download as reported by status and progress messages. */
export const DownloadInfo = z.object({
  downloadId: DownloadId,
  target: z.string().max(255),
  fileId: FileId.optional(),
  name: FileName.optional(),
  state: z.string().max(64),
  status: DownloadStatus,
  verifiedChunks: SafeInt,
  totalChunks: SafeInt,
  bytes: SafeInt,
  totalBytes: SafeInt,
  rateBps: z.number().nonnegative(),
  sources: SafeInt,
  /** retries over the download's life (the machine's `retries`, `--json`'s `retries`) */
  retries: SafeInt.default(0),
  /** the older name of `retries`, same value (kept for existing readers) */
  attempts: SafeInt,
  path: z.string().max(4096).optional(),
  error: z.object({ code: z.string().max(64), message: z.string().max(4096) }).optional(),
  startedAt: SafeInt,
  finishedAt: SafeInt.optional(),
});
export type DownloadInfo = z.infer<typeof DownloadInfo>;

/** peer → anyone (publish on progress.<downloadId>). */
export const ProgressEvent = DownloadInfo.extend({ v: Version, peerId: PeerId });
export type ProgressEvent = z.infer<typeof ProgressEvent>;

/**
 * `cursor`: where the previous page stopped (its reply's `next`); a status pages over the shared
 * files, then the downloads, so no reply outgrows the broker's max payload (issue 9, class 4).
 */
export const StatusRequest = z.object({ v: Version, downloadId: DownloadId.optional(), cursor: SafeInt.optional() });
export type StatusRequest = z.infer<typeof StatusRequest>;
export const SharedFile = FileMeta.extend({ origin: z.enum(['shared', 'downloads']), path: z.string().max(4096) });
export type SharedFile = z.infer<typeof SharedFile>;
export const StatusReply = z.object({
  v: Version,
  ok: z.literal(true),
  peerId: PeerId,
  endpoint: Endpoint,
  dir: z.string().max(4096),
  shared: z.array(SharedFile).max(10_000),
  downloads: z.array(DownloadInfo).max(10_000),
  served: z.object({ chunks: SafeInt, bytes: SafeInt }),
  /** shared files and downloads in all pages (peers before issue 9 send one page and omit them) */
  sharedTotal: SafeInt.optional(),
  downloadsTotal: SafeInt.optional(),
  /** the cursor of the next page; absent on the last one */
  next: SafeInt.optional(),
});
export type StatusReply = z.infer<typeof StatusReply>;

/** One machine transition, as published on trace.<downloadId> and stored in traces/<id>.jsonl. */
export const TraceEntry = z.object({
  downloadId: DownloadId,
  seq: SafeInt,
  ts: SafeInt,
  from: z.string().max(64),
  to: z.string().max(64),
  event: z.string().max(64),
  verifiedChunks: SafeInt,
  totalChunks: SafeInt,
  bytes: SafeInt,
  sources: SafeInt,
  /** retries so far (the older name `attempts` has the same value) */
  retries: SafeInt.default(0),
  attempts: SafeInt,
  detail: z.string().max(1024).optional(),
  final: z.boolean(),
});
export type TraceEntry = z.infer<typeof TraceEntry>;
export const TraceEvent = TraceEntry.extend({ v: Version, peerId: PeerId });
export type TraceEvent = z.infer<typeof TraceEvent>;

/** `from`: the first entry (0-based) wanted; without it, the last 5000 entries (a reply's `next` goes on). */
export const TraceRequest = z.object({ v: Version, downloadId: DownloadId, from: SafeInt.optional() });
export type TraceRequest = z.infer<typeof TraceRequest>;
export const TraceReply = z.object({
  v: Version,
  ok: z.literal(true),
  entries: z.array(TraceEntry).max(5000),
  /** entries left out at the start to keep the reply small (the .jsonl file has them all). */
  truncated: SafeInt,
  finished: z.boolean(),
  /** entries in the whole trace file */
  total: SafeInt.optional(),
  /** `from` of the next page, when this one was cut to fit the broker's max payload */
  next: SafeInt.optional(),
});
export type TraceReply = z.infer<typeof TraceReply>;
