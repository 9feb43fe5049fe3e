// Every message that crosses NATS, as a zod schema; the TypeScript types are derived from the
// schemas, never written twice. Each message carries `v` (the protocol version). Unknown fields
// are stripped (so newer peers can add fields); missing or ill-typed ones are refused.
import { z } from 'zod';
import { FILE_ID_PATTERN, TOKEN_PATTERN } from './ids.js';

/** Protocol version spoken by this build. */
export const PROTOCOL_VERSION = 1 as const;

export const Version = z.literal(PROTOCOL_VERSION);

/** A file's content address: lowercase hex SHA-256 of its manifest (see src/store/manifest.ts). */
export const FileId = z.string().regex(FILE_ID_PATTERN, 'fileId must be 64 lowercase hex digits');
export type FileId = z.infer<typeof FileId>;

/** Peer and download ids: short, subject-safe tokens (they become NATS subject tokens). */
export const PeerId = z.string().regex(TOKEN_PATTERN, 'peer id must be 1-64 of [A-Za-z0-9_-]');
export type PeerId = z.infer<typeof PeerId>;
export const DownloadId = z.string().regex(TOKEN_PATTERN, 'download id must be 1-64 of [A-Za-z0-9_-]');
export type DownloadId = z.infer<typeof DownloadId>;

/** A file name as it travels; it is reduced to a safe base name before it touches disk. */
export const FileName = z.string().min(1).max(255);

const SafeInt = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

/** Where a peer's chunk server listens. */
export const Endpoint = z.object({
  host: z.string().min(1).max(255),
  port: z.number().int().min(1).max(65535),
});
export type Endpoint = z.infer<typeof Endpoint>;

/** What a peer announces of a file: enough to list it; the chunk hashes travel over TCP. */
export const FileMeta = z.object({
  fileId: FileId,
  name: FileName,
  size: SafeInt,
  chunkSize: z.number().int().min(1).max(64 * 1024 * 1024),
  chunkCount: z.number().int().nonnegative().max(1_000_000),
});
export type FileMeta = z.infer<typeof FileMeta>;

export const Source = z.object({ peerId: PeerId, endpoint: Endpoint });
export type Source = z.infer<typeof Source>;

/** Failure reply to any request. `code` is one of src/errors.ts ErrorCodes. */
export const ErrorReply = z.object({
  v: Version,
  ok: z.literal(false),
  code: z.string().max(64),
  message: z.string().max(4096),
});
export type ErrorReply = z.infer<typeof ErrorReply>;

export const Ack = z.object({ v: Version, ok: z.literal(true) });
export type Ack = z.infer<typeof Ack>;

// ---- tracker -------------------------------------------------------------------------------

/** Max files per announce message; a peer with more sends several (see docs/protocol.md). */
export const ANNOUNCE_BATCH = 500;

/** peer → tracker (request): who I am, where I listen, and (a batch of) my files. */
export const AnnounceRequest = z.object({
  v: Version,
  peerId: PeerId,
  endpoint: Endpoint,
  /** true: these files replace everything the tracker had for this peer (first batch). */
  replace: z.boolean(),
  files: z.array(FileMeta).max(ANNOUNCE_BATCH),
  /** fileIds this peer no longer has. */
  removed: z.array(FileId).max(ANNOUNCE_BATCH).default([]),
});
export type AnnounceRequest = z.infer<typeof AnnounceRequest>;

/** peer → tracker (request): still alive. The reply says whether the tracker knows us. */
export const HeartbeatRequest = z.object({
  v: Version,
  peerId: PeerId,
  endpoint: Endpoint,
  fileCount: SafeInt,
});
export type HeartbeatRequest = z.infer<typeof HeartbeatRequest>;
export const HeartbeatReply = z.object({ v: Version, ok: z.literal(true), known: z.boolean() });
export type HeartbeatReply = z.infer<typeof HeartbeatReply>;

/** peer → tracker (publish): leaving cleanly, drop me now rather than after the TTL. */
export const Bye = z.object({ v: Version, peerId: PeerId });
export type Bye = z.infer<typeof Bye>;

/** tracker → everyone (publish): a tracker (re)started; peers re-announce. */
export const TrackerHello = z.object({ v: Version, trackerId: z.string().max(64), startedAt: SafeInt });
export type TrackerHello = z.infer<typeof TrackerHello>;

/** anyone → tracker (request): find a file by fileId or by name. */
export const LookupRequest = z
  .object({ v: Version, fileId: FileId.optional(), name: FileName.optional() })
  .refine((m) => (m.fileId === undefined) !== (m.name === undefined), 'give exactly one of fileId or name');
export type LookupRequest = z.infer<typeof LookupRequest>;

export const LookupMatch = z.object({ file: FileMeta, sources: z.array(Source).max(10_000) });
export type LookupMatch = z.infer<typeof LookupMatch>;
/** Matches, most sources first. Empty when nothing is known. */
export const LookupReply = z.object({ v: Version, ok: z.literal(true), matches: z.array(LookupMatch).max(1000) });
export type LookupReply = z.infer<typeof LookupReply>;

/** anyone → tracker (request): every file in the swarm, paged. */
export const ListRequest = z.object({
  v: Version,
  offset: SafeInt.default(0),
  limit: z.number().int().min(1).max(2000).default(1000),
});
export type ListRequest = z.infer<typeof ListRequest>;
export const ListEntry = FileMeta.extend({ sources: SafeInt });
export type ListEntry = z.infer<typeof ListEntry>;
export const ListReply = z.object({
  v: Version,
  ok: z.literal(true),
  total: SafeInt,
  files: z.array(ListEntry).max(2000),
  peers: SafeInt,
});
export type ListReply = z.infer<typeof ListReply>;

/** anyone → tracker (request): the peers it knows, paged, sorted by id. */
export const PeersRequest = z.object({
  v: Version,
  offset: SafeInt.default(0),
  limit: z.number().int().min(1).max(1000).default(500),
});
export type PeersRequest = z.infer<typeof PeersRequest>;
export const PeerEntry = z.object({
  peerId: PeerId,
  endpoint: Endpoint,
  /** files it announced */
  files: SafeInt,
  /** tracker clock (ms since the epoch) of its last announce or heartbeat */
  lastSeen: SafeInt,
});
export type PeerEntry = z.infer<typeof PeerEntry>;
export const PeersReply = z.object({ v: Version, ok: z.literal(true), total: SafeInt, peers: z.array(PeerEntry).max(1000) });
export type PeersReply = z.infer<typeof PeersReply>;

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

export const StatusRequest = z.object({ v: Version, downloadId: DownloadId.optional() });
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

export const TraceRequest = z.object({ v: Version, downloadId: DownloadId });
export type TraceRequest = z.infer<typeof TraceRequest>;
export const TraceReply = z.object({
  v: Version,
  ok: z.literal(true),
  entries: z.array(TraceEntry).max(5000),
  /** entries left out at the start to keep the reply small (the .jsonl file has them all). */
  truncated: SafeInt,
  finished: z.boolean(),
});
export type TraceReply = z.infer<typeof TraceReply>;

// ---- swarm: who has which chunks -----------------------------------------------------------

/** Most ranges in one `gained` list; a peer with more to say sends its whole bitfield instead. */
export const MAX_GAINED_RANGES = 4096;
const MAX_CHUNKS = 1_000_000;

/** Half-open range of chunk indexes `[start, end)`. */
export const ChunkRange = z
  .tuple([z.number().int().min(0).max(MAX_CHUNKS), z.number().int().min(1).max(MAX_CHUNKS)])
  .refine(([start, end]) => start < end, 'a range must not be empty');

/**
 * peer → downloaders of the file (publish on `avail.<fileId>`): which chunks it can serve now.
 * Exactly one of: `complete: true` (every chunk), `bitfield` (all verified chunks: bit i is bit
 * i mod 8, least significant first, of byte ⌊i / 8⌋), or `gained` (chunks verified since its last
 * message). At most one message per 250 ms per file and peer, so it stays small and rare.
 */
export const ChunkAvailability = z
  .object({
    v: Version,
    peerId: PeerId,
    endpoint: Endpoint,
    fileId: FileId,
    chunkCount: z.number().int().nonnegative().max(MAX_CHUNKS),
    complete: z.boolean(),
    bitfield: z.instanceof(Uint8Array).optional(),
    gained: z.array(ChunkRange).max(MAX_GAINED_RANGES).optional(),
  })
  .refine((m) => [m.complete, m.bitfield !== undefined, m.gained !== undefined].filter(Boolean).length === 1, 'give exactly one of complete, bitfield or gained')
  .refine((m) => m.bitfield === undefined || m.bitfield.length === Math.ceil(m.chunkCount / 8), 'bitfield length does not match chunkCount')
  .refine((m) => (m.gained ?? []).every(([, end]) => end <= m.chunkCount), 'a gained range goes past chunkCount');
export type ChunkAvailability = z.infer<typeof ChunkAvailability>;

/**
 * downloader → everyone (publish on `avail.<fileId>.query`): who has chunks of this file? Every
 * peer holding or downloading it answers by publishing its ChunkAvailability on `avail.<fileId>`.
 */
export const AvailabilityQuery = z.object({ v: Version, peerId: PeerId, fileId: FileId });
export type AvailabilityQuery = z.infer<typeof AvailabilityQuery>;
