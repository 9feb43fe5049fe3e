// Every id pattern of the wire, defined once: fileId (content address), peer and download ids
// (subject-safe tokens), and the download id a caller proposes. Also the wire's size limits that
// the store shares (hash length, largest chunk): the protocol defines them, the store obeys.
import { randomBytes } from 'node:crypto';

/** Protocol version spoken by this build (every message carries it as `v`). */
export const PROTOCOL_VERSION = 1 as const;

/** Max files per announce message; a peer with more sends several (see docs/protocol.md). */
export const ANNOUNCE_BATCH = 500;

/** Most ranges in one availability `gained` list; a peer with more to say sends its whole bitfield instead. */
export const MAX_GAINED_RANGES = 4096;
/** Most chunks a file may have (availability messages). */
export const MAX_CHUNKS = 1_000_000;

/** A fileId: lowercase hex SHA-256 of the file's manifest. */
export const FILE_ID_PATTERN = /^[0-9a-f]{64}$/;
/** Peer and download ids, and subject prefix tokens: 1-64 of [A-Za-z0-9_-]. */
export const TOKEN_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export const isFileId = (s: string): boolean => FILE_ID_PATTERN.test(s);
export const isToken = (s: string): boolean => TOKEN_PATTERN.test(s);

/** A fresh download id, e.g. `dl-m1abc2de-3f9a1c` (time first, so ids sort by start). */
export function newDownloadId(now = Date.now()): string {
  return `dl-${now.toString(36)}-${randomBytes(3).toString('hex')}`;
}

/** Bytes of a SHA-256 (chunk hashes and fileIds). */
export const HASH_BYTES = 32;
/**
 * The default `peer.minChunkSize` (config/default.json holds the same number; a unit test keeps
 * them equal). 512 KiB rather than 1 MiB: in the LAN lab a downloader can relay a chunk twice as
 * soon, and the tail spreads in smaller pieces (bench/README.md, "Half-size chunks").
 */
export const DEFAULT_MIN_CHUNK_SIZE = 512 * 1024;
/**
 * The default `peer.largeFileSize`: files this size or larger get chunks twice `minChunkSize`.
 * The per-chunk cost (a request, a hash, a write, an announcement) counts more on a big file, the
 * relay and tail gains of small chunks less: on loopback a 1 GiB download costs the downloader
 * less CPU with 1 MiB chunks, while the LAN lab's 256 MiB swarm is faster with 512 KiB
 * (bench/README.md, "A chunk size that grows with the file").
 */
export const DEFAULT_LARGE_FILE_SIZE = 1024 * 1024 * 1024;
/** The default `peer.maxChunks`: past it the chunk size doubles again. */
export const DEFAULT_MAX_CHUNKS = 8192;
/** Chunks are never larger than this (also bounds every TCP frame). */
export const MAX_CHUNK_SIZE = 64 * 1024 * 1024;
