// The building blocks of every wire message (see messages.ts, which re-exports them): the
// protocol version, ids, names, endpoints, a file's metadata and a source, the generic replies.
import { z } from 'zod';
import { FILE_ID_PATTERN, PROTOCOL_VERSION, TOKEN_PATTERN } from './ids.js';

/** Protocol version spoken by this build (defined with the wire's other constants in ids.ts). */
export { PROTOCOL_VERSION };

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

/** A non-negative integer that survives a round trip through a double. */
export const SafeInt = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

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

/**
 * What one source says of a file (issue 9, class 1): its own name, size, chunk size and chunk
 * count, as it announced them. Untrusted: the downloader checks them against the manifest (which
 * hashes to the fileId) and strikes a source whose claims do not match.
 */
export const SourceClaims = FileMeta.pick({ name: true, size: true, chunkSize: true, chunkCount: true });
export type SourceClaims = z.infer<typeof SourceClaims>;

/** A peer holding a file; `claims` (from trackers since issue 9) is what it announced of it. */
export const Source = z.object({ peerId: PeerId, endpoint: Endpoint, claims: SourceClaims.optional() });
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
