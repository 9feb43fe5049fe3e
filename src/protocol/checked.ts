// Hand-written checked decoders for the hot messages (announce, heartbeat, lookup; availability):
// the same rules as their zod schemas in messages.ts, checked in one pass without zod's
// per-node machinery (a 100-file announce is ~600 nodes). Each returns a fresh object holding
// only the schema's keys (unknown ones stripped, defaults filled, as zod does), or undefined when
// anything is off; then codec.decode runs the zod schema, which refuses it with its usual message.
// So these may be stricter than zod, never looser: test/unit/checked.test.ts compares both on
// valid and mutated messages. This module loads no zod (types only): the CLI's light replies
// (checked-replies.ts) build on it, and messages.ts registers each check with its schema.
import { ANNOUNCE_BATCH, MAX_CHUNKS, MAX_GAINED_RANGES, PROTOCOL_VERSION, TOKEN_PATTERN } from './ids.js';
import type { AnnounceRequest, ChunkAvailability, Endpoint, FileMeta, HeartbeatRequest, LookupRequest } from './messages.js';

const CHECKED = new WeakMap<object, (v: unknown) => unknown>();
const READERS = new WeakMap<object, (bytes: Uint8Array) => unknown>();

/** Register `check` as `schema`'s checked decoder (codec.decode tries it first); returns the schema. */
export function withChecked<S extends object>(schema: S, check: (v: unknown) => unknown): S {
  CHECKED.set(schema, check);
  return schema;
}

/** Register `read` as `schema`'s reader of raw bytes: codec.decode tries it before anything else. */
export function withReader(schema: object, read: (bytes: Uint8Array) => unknown): void {
  READERS.set(schema, read);
}

/** The checked decoder registered for `schema`, if any. */
export function checkedOf(schema: object): ((v: unknown) => unknown) | undefined {
  return CHECKED.get(schema);
}

/** The reader of raw bytes registered for `schema`, if any. */
export function readerOf(schema: object): ((bytes: Uint8Array) => unknown) | undefined {
  return READERS.get(schema);
}

export type Obj = Record<string, unknown>;

export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
export const isToken = (v: unknown): v is string => typeof v === 'string' && v.length <= 64 && TOKEN_PATTERN.test(v);
/** FILE_ID_PATTERN by char codes: the regex was 5 % of a 100-file announce's CPU in the profile. */
export function isFileId(v: unknown): v is string {
  if (typeof v !== 'string' || v.length !== 64) return false;
  for (let i = 0; i < 64; i++) {
    const c = v.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}
export const isName = (v: unknown): v is string => typeof v === 'string' && v.length >= 1 && v.length <= 255;
export const intIn = (v: unknown, min: number, max: number): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= max;

export function endpoint(v: unknown): Endpoint | undefined {
  if (!isObj(v)) return undefined;
  const { host, port } = v;
  if (!isName(host) || !intIn(port, 1, 65535)) return undefined;
  return { host, port };
}

/** FileMeta's numbers (its schema's ranges), for fileMeta and the announce reader alike. */
export function sizesOk(size: unknown, chunkSize: unknown, chunkCount: unknown): boolean {
  return intIn(size, 0, Number.MAX_SAFE_INTEGER) && intIn(chunkSize, 1, 64 * 1024 * 1024) && intIn(chunkCount, 0, 1_000_000);
}

export function fileMeta(v: unknown): FileMeta | undefined {
  if (!isObj(v)) return undefined;
  const { fileId, name, size, chunkSize, chunkCount } = v;
  if (!isFileId(fileId) || !isName(name) || !sizesOk(size, chunkSize, chunkCount)) return undefined;
  return { fileId, name, size: size as number, chunkSize: chunkSize as number, chunkCount: chunkCount as number };
}

export function checkAnnounce(v: unknown): AnnounceRequest | undefined {
  if (!isObj(v) || v.v !== PROTOCOL_VERSION || !isToken(v.peerId) || typeof v.replace !== 'boolean') return undefined;
  const ep = endpoint(v.endpoint);
  if (!ep) return undefined;
  const rawFiles = v.files;
  if (!Array.isArray(rawFiles) || rawFiles.length > ANNOUNCE_BATCH) return undefined;
  const files: FileMeta[] = new Array(rawFiles.length);
  for (let i = 0; i < rawFiles.length; i++) {
    const meta = fileMeta(rawFiles[i]);
    if (!meta) return undefined;
    files[i] = meta;
  }
  let removed: string[] = [];
  if (v.removed !== undefined) {
    const raw = v.removed;
    if (!Array.isArray(raw) || raw.length > ANNOUNCE_BATCH) return undefined;
    for (let i = 0; i < raw.length; i++) if (!isFileId(raw[i])) return undefined;
    removed = raw.slice() as string[];
  }
  return { v: PROTOCOL_VERSION, peerId: v.peerId, endpoint: ep, replace: v.replace, files, removed };
}

export function checkHeartbeat(v: unknown): HeartbeatRequest | undefined {
  if (!isObj(v) || v.v !== PROTOCOL_VERSION || !isToken(v.peerId) || !intIn(v.fileCount, 0, Number.MAX_SAFE_INTEGER)) return undefined;
  const ep = endpoint(v.endpoint);
  if (!ep) return undefined;
  return { v: PROTOCOL_VERSION, peerId: v.peerId, endpoint: ep, fileCount: v.fileCount };
}

export function checkLookup(v: unknown): LookupRequest | undefined {
  if (!isObj(v) || v.v !== PROTOCOL_VERSION) return undefined;
  const { fileId, name } = v;
  if (fileId !== undefined && name === undefined && isFileId(fileId)) return { v: PROTOCOL_VERSION, fileId };
  if (name !== undefined && fileId === undefined && isName(name)) return { v: PROTOCOL_VERSION, name };
  return undefined;
}

/** ChunkAvailability: every peer of a swarm hears every other one's, several times a second. */
export function checkAvailability(v: unknown): ChunkAvailability | undefined {
  if (!isObj(v) || v.v !== PROTOCOL_VERSION || !isToken(v.peerId) || !isFileId(v.fileId) || typeof v.complete !== 'boolean') return undefined;
  const { chunkCount, bitfield, gained } = v;
  const ep = endpoint(v.endpoint);
  if (!ep || !intIn(chunkCount, 0, MAX_CHUNKS)) return undefined;
  const out: ChunkAvailability = { v: PROTOCOL_VERSION, peerId: v.peerId, endpoint: ep, fileId: v.fileId, chunkCount, complete: v.complete };
  // exactly one of complete, bitfield, gained
  let given = v.complete ? 1 : 0;
  if (bitfield !== undefined) {
    if (!(bitfield instanceof Uint8Array) || bitfield.length !== Math.ceil(chunkCount / 8)) return undefined;
    out.bitfield = bitfield as ChunkAvailability['bitfield'];
    given++;
  }
  if (gained !== undefined) {
    if (!Array.isArray(gained) || gained.length > MAX_GAINED_RANGES) return undefined;
    const ranges: Array<[number, number]> = new Array(gained.length);
    for (let i = 0; i < gained.length; i++) {
      const r: unknown = gained[i];
      if (!Array.isArray(r) || r.length !== 2) return undefined;
      const [start, end] = r as unknown[];
      if (!intIn(start, 0, MAX_CHUNKS) || !intIn(end, 1, MAX_CHUNKS) || start >= end || end > chunkCount) return undefined;
      ranges[i] = [start, end];
    }
    out.gained = ranges;
    given++;
  }
  return given === 1 ? out : undefined;
}
