// Every failure the product can report, one class each, with a stable `code`.
// Callers branch on `code` (or class), never on message text. Codes travel over NATS in
// `{ ok: false, code, message }` replies and are mapped back to classes by `errorFromCode`.

/** Stable error codes. Adding is fine; renaming breaks users' scripts. */
export const ErrorCodes = [
  'PROTOCOL_ERROR',
  'BAD_REQUEST',
  'UNSUPPORTED_VERSION',
  'NOT_FOUND',
  'UNKNOWN_PEER',
  'UNSAFE_NAME',
  'CHUNK_HASH_MISMATCH',
  'MANIFEST_MISMATCH',
  'PEER_TIMEOUT',
  'PEER_UNREACHABLE',
  'BUSY',
  'NO_SOURCES',
  'RETRIES_EXHAUSTED',
  'CANCELLED',
  'DISK_FULL',
  'IO_ERROR',
  'BROKER_UNAVAILABLE',
  'AUTH_FAILED',
  'PERMISSION_DENIED',
  'TIMEOUT',
  'CONFIG_ERROR',
  'TOO_LARGE',
  'ID_TAKEN',
  'INTERNAL',
] as const;

export type ErrorCode = (typeof ErrorCodes)[number];

/** Base class: every error of ours has a stable code and an optional cause. */
export class P2PError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A message or frame that is malformed, too big, too deep or fails its schema. */
export class ProtocolError extends P2PError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('PROTOCOL_ERROR', message, options);
  }
}
/** A well-formed request that asks for something invalid. */
export class BadRequestError extends P2PError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('BAD_REQUEST', message, options);
  }
}
/** A message carrying a protocol version we do not speak. */
export class UnsupportedVersionError extends P2PError {
  constructor(message: string) {
    super('UNSUPPORTED_VERSION', message);
  }
}
/** The file (or download, or chunk) asked for is not known. */
export class NotFoundError extends P2PError {
  constructor(message: string) {
    super('NOT_FOUND', message);
  }
}
/** No running peer answers on that id. */
export class UnknownPeerError extends P2PError {
  constructor(message: string) {
    super('UNKNOWN_PEER', message);
  }
}
/** A name from the network that cannot be made into a safe file name. */
export class UnsafeNameError extends P2PError {
  constructor(message: string) {
    super('UNSAFE_NAME', message);
  }
}
/** A chunk whose bytes do not match the SHA-256 in its manifest. */
export class ChunkHashMismatchError extends P2PError {
  constructor(message: string) {
    super('CHUNK_HASH_MISMATCH', message);
  }
}
/** A manifest whose hash is not the fileId it was asked for. */
export class ManifestMismatchError extends P2PError {
  constructor(message: string) {
    super('MANIFEST_MISMATCH', message);
  }
}
/** A peer that did not answer in time. */
export class PeerTimeoutError extends P2PError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('PEER_TIMEOUT', message, options);
  }
}
/** A peer whose TCP endpoint cannot be reached or closed on us. */
export class PeerUnreachableError extends P2PError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('PEER_UNREACHABLE', message, options);
  }
}
/** The peer is at its connection or request limit. */
export class BusyError extends P2PError {
  constructor(message: string) {
    super('BUSY', message);
  }
}
/** The download gave up after its configured number of retries. */
export class RetriesExhaustedError extends P2PError {
  constructor(message: string) {
    super('RETRIES_EXHAUSTED', message);
  }
}
/** The download was cancelled by the user. */
export class CancelledError extends P2PError {
  constructor(message: string) {
    super('CANCELLED', message);
  }
}
/** The disk is full (ENOSPC); verified chunks are kept for a later resume. */
export class DiskFullError extends P2PError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('DISK_FULL', message, options);
  }
}
/** Any other file system failure. */
export class IoError extends P2PError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('IO_ERROR', message, options);
  }
}
/** The NATS broker cannot be reached. */
export class BrokerUnavailableError extends P2PError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('BROKER_UNAVAILABLE', message, options);
  }
}
/**
 * Credentials refused: the broker's (missing, wrong, expired), or on the data plane the swarm key
 * (a peer requires one we lack, or did not prove ours) or a TLS certificate our CA did not sign.
 */
export class AuthFailedError extends P2PError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('AUTH_FAILED', message, options);
  }
}
/** The broker refused a publish or subscription that this identity's role may not use. */
export class PermissionDeniedError extends P2PError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('PERMISSION_DENIED', message, options);
  }
}
/** A wait that ran out of time. */
export class TimeoutError extends P2PError {
  constructor(message: string) {
    super('TIMEOUT', message);
  }
}
/** Bad configuration (file, env or flags). */
export class ConfigError extends P2PError {
  constructor(message: string) {
    super('CONFIG_ERROR', message);
  }
}

/** A message or reply over the broker's max payload (ask for a page, or less). */
export class TooLargeError extends P2PError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('TOO_LARGE', message, options);
  }
}

/** This peer id is bound to another key at the tracker: another peer holds it (or held it). */
export class IdTakenError extends P2PError {
  constructor(message: string) {
    super('ID_TAKEN', message);
  }
}

const byCode: Record<ErrorCode, (message: string) => P2PError> = {
  PROTOCOL_ERROR: (m) => new ProtocolError(m),
  BAD_REQUEST: (m) => new BadRequestError(m),
  UNSUPPORTED_VERSION: (m) => new UnsupportedVersionError(m),
  NOT_FOUND: (m) => new NotFoundError(m),
  UNKNOWN_PEER: (m) => new UnknownPeerError(m),
  UNSAFE_NAME: (m) => new UnsafeNameError(m),
  CHUNK_HASH_MISMATCH: (m) => new ChunkHashMismatchError(m),
  MANIFEST_MISMATCH: (m) => new ManifestMismatchError(m),
  PEER_TIMEOUT: (m) => new PeerTimeoutError(m),
  PEER_UNREACHABLE: (m) => new PeerUnreachableError(m),
  BUSY: (m) => new BusyError(m),
  NO_SOURCES: (m) => new P2PError('NO_SOURCES', m),
  RETRIES_EXHAUSTED: (m) => new RetriesExhaustedError(m),
  CANCELLED: (m) => new CancelledError(m),
  DISK_FULL: (m) => new DiskFullError(m),
  IO_ERROR: (m) => new IoError(m),
  BROKER_UNAVAILABLE: (m) => new BrokerUnavailableError(m),
  AUTH_FAILED: (m) => new AuthFailedError(m),
  PERMISSION_DENIED: (m) => new PermissionDeniedError(m),
  TIMEOUT: (m) => new TimeoutError(m),
  CONFIG_ERROR: (m) => new ConfigError(m),
  TOO_LARGE: (m) => new TooLargeError(m),
  ID_TAKEN: (m) => new IdTakenError(m),
  INTERNAL: (m) => new P2PError('INTERNAL', m),
};

/** Rebuild an error of the right class from a `{ code, message }` reply. */
export function errorFromCode(code: string, message: string): P2PError {
  const make = (byCode as Record<string, ((m: string) => P2PError) | undefined>)[code];
  return make ? make(message) : new P2PError('INTERNAL', `${code}: ${message}`);
}

/**
 * Turn anything thrown into one of ours; node's ENOSPC becomes DiskFullError. A file-system error
 * keeps its path only in `cause` (for our own logs): its message is generic (`EMFILE: too many
 * open files (open)`), so no absolute path of this machine ever reaches a reply on the bus.
 */
export function toP2PError(err: unknown): P2PError {
  if (err instanceof P2PError) return err;
  const e = err as NodeJS.ErrnoException | undefined;
  if (e && typeof e === 'object' && typeof e.code === 'string') {
    if (e.code === 'ENOSPC') return new DiskFullError('disk full (ENOSPC)', { cause: err });
    if (/^E[A-Z]+$/.test(e.code)) return new IoError(genericFsMessage(e), { cause: err });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new P2PError('INTERNAL', message, { cause: err });
}

/** `EACCES: permission denied (open)`: node's text for the code, without the path it names. */
function genericFsMessage(e: NodeJS.ErrnoException): string {
  // node's form is "CODE: description, syscall 'path'" — keep the description, drop the path
  const m = /^[A-Z]+: ([^,']+)/.exec(e.message ?? '');
  const what = m ? m[1]!.trim() : 'file system error';
  return `${e.code}: ${what}${e.syscall ? ` (${e.syscall})` : ''}`;
}

// ---- remote text inside our own records -------------------------------------------------------

/** Longest message we put in a record of our own (DownloadInfo.error, trace detail: 1024). */
export const MAX_MESSAGE_CHARS = 1000;

/**
 * Text made safe to keep in one of our records, whatever remote data it was built from: control
 * characters replaced, at most `max` characters (cut with `…`). Call it where a message is built.
 */
export function boundedMessage(text: unknown, max = MAX_MESSAGE_CHARS): string {
  // eslint-disable-next-line no-control-regex
  const clean = String(text ?? '').replace(/[\u0000-\u001f\u007f]/g, ' ');
  return clean.length <= max ? clean : `${clean.slice(0, Math.max(0, max - 1))}…`;
}

/** `a, b, c and 7 more`: at most `max` items named, each bounded, the rest counted. */
export function boundedList(items: readonly string[], max: number, itemMax = 160): string {
  const named = items.slice(0, max).map((i) => boundedMessage(i, itemMax));
  const rest = items.length - named.length;
  return rest > 0 ? `${named.join(', ')} and ${rest} more` : named.join(', ');
}

/** The message of anything thrown, as one of our records may keep it (bounded, no local paths). */
export function publicMessage(err: unknown): string {
  return boundedMessage(toP2PError(err).message);
}

// ---- errors retrying cannot fix ---------------------------------------------------------------

/**
 * Codes of local trouble that no retry can fix (this machine's name rules, its disk, its paths,
 * its configuration): a download fails at once with its code. Everything else (remote trouble:
 * timeouts, unreachable or lying sources, BUSY) is retried. For issue 8's `isFatal()`.
 */
export const LOCAL_FATAL_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['UNSAFE_NAME', 'DISK_FULL', 'IO_ERROR', 'CONFIG_ERROR']);

/** Old name of isFatal(), kept for issue 9's callers. */
export const isLocalFatal = isFatal;

/** Retry or fail? The one place a download decides it (the machine's `fatal` guard and the fetcher use it). */
export function isFatal(err: unknown): boolean {
  return LOCAL_FATAL_CODES.has(toP2PError(err).code);
}

/**
 * `{ code, message }` of anything thrown, for a download's error: our own codes pass through,
 * node's ENOSPC becomes DISK_FULL, anything else gets `fallback` (users only see our codes).
 */
export function errorInfoOf(err: unknown, fallback: ErrorCode): { code: string; message: string } {
  const message = boundedMessage(err instanceof Error ? err.message : String(err));
  const code = (err as { code?: unknown } | null | undefined)?.code;
  if (typeof code !== 'string') return { code: fallback, message };
  if ((ErrorCodes as readonly string[]).includes(code)) return { code, message };
  return { code: code === 'ENOSPC' ? 'DISK_FULL' : fallback, message };
}
