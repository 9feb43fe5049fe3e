// Every message that crosses NATS, as a zod schema; the TypeScript types are derived from the
// schemas, never written twice. Each message carries `v` (the protocol version). Unknown fields
// are stripped (so newer peers can add fields); missing or ill-typed ones are refused. The building
// blocks live in wire-types.ts, the peer's messages in peer-messages.ts; both are re-exported here.
import { z } from 'zod';
import { Endpoint, FileId, FileMeta, FileName, PeerId, SafeInt, Source, Version } from './wire-types.js';
import { ANNOUNCE_BATCH } from './ids.js';
import { MAX_CHUNKS, MAX_GAINED_RANGES } from './ids.js';
import { checkAnnounce, checkAvailability, checkHeartbeat, checkLookup, withChecked, withReader } from './checked.js';
import { readAnnounce } from './announce-reader.js';

export * from './wire-types.js';
export * from './peer-messages.js';

// ---- tracker -------------------------------------------------------------------------------

/** Max files per announce message (defined in ids.ts with the wire's other constants). */
export { ANNOUNCE_BATCH };

/** peer → tracker (request): who I am, where I listen, and (a batch of) my files. */
export const AnnounceRequest = withChecked(z.object({
  v: Version,
  peerId: PeerId,
  endpoint: Endpoint,
  /** true: these files replace everything the tracker had for this peer (first batch). */
  replace: z.boolean(),
  files: z.array(FileMeta).max(ANNOUNCE_BATCH),
  /** fileIds this peer no longer has. */
  removed: z.array(FileId).max(ANNOUNCE_BATCH).default([]),
}), checkAnnounce);
export type AnnounceRequest = z.infer<typeof AnnounceRequest>;
// the tracker reads it straight from its bytes when they have the common shape
withReader(AnnounceRequest, readAnnounce);

/** peer → tracker (request): still alive. The reply says whether the tracker knows us. */
export const HeartbeatRequest = withChecked(z.object({
  v: Version,
  peerId: PeerId,
  endpoint: Endpoint,
  fileCount: SafeInt,
}), checkHeartbeat);
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
export const LookupRequest = withChecked(
  z
    .object({ v: Version, fileId: FileId.optional(), name: FileName.optional() })
    .refine((m) => (m.fileId === undefined) !== (m.name === undefined), 'give exactly one of fileId or name'),
  checkLookup,
);
export type LookupRequest = z.infer<typeof LookupRequest>;

/**
 * `file` is what most of its sources claim (a hint for listing: never trusted for the download);
 * each source carries its own `claims`, so a liar never hides an honest source's claims.
 */
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

// ---- swarm: who has which chunks -----------------------------------------------------------

export { MAX_GAINED_RANGES };

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
export const ChunkAvailability = withChecked(z
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
  .refine((m) => (m.gained ?? []).every(([, end]) => end <= m.chunkCount), 'a gained range goes past chunkCount'), checkAvailability);
export type ChunkAvailability = z.infer<typeof ChunkAvailability>;

/**
 * downloader → everyone (publish on `avail.<fileId>.query`): who has chunks of this file? Every
 * peer holding or downloading it answers by publishing its ChunkAvailability on `avail.<fileId>`.
 */
export const AvailabilityQuery = z.object({ v: Version, peerId: PeerId, fileId: FileId });
export type AvailabilityQuery = z.infer<typeof AvailabilityQuery>;
