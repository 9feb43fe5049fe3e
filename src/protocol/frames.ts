// Data-plane TCP framing: encoders and a pure incremental parser over bytes (no sockets).
// CHUNK bodies are streamed as views of the input so the receiver can hash and write them uncopied.
// HELLO / AUTH / AUTH_OK carry the swarm-key handshake (fixed lengths, see swarm-auth.ts).
import { BadRequestError, ProtocolError, type ErrorCode } from '../errors.js';
import { FILE_ID_PATTERN as FILE_ID, HASH_BYTES, MAX_CHUNK_SIZE } from './ids.js';

/** Frame type byte (after the u32 big-endian length, which counts the bytes that follow it). */
export const FrameType = {
  GetChunk: 1,
  Chunk: 2,
  GetManifest: 3,
  Manifest: 4,
  Error: 5,
  Cancel: 6,
  Hello: 7,
  Auth: 8,
  AuthOk: 9,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

/** Bytes before a CHUNK's data: u32 length, u8 type, u32 reqId, u32 index. */
export const CHUNK_HEADER_BYTES = 13;
/** Largest manifest accepted in a MANIFEST frame (~520k chunk hashes). */
export const MAX_MANIFEST_BYTES = 16 * 1024 * 1024;
export const MAX_ERROR_CODE_BYTES = 64;
export const MAX_ERROR_MESSAGE_BYTES = 1024;
/** Bytes of a handshake nonce and of an HMAC-SHA256. */
export const NONCE_BYTES = 32;
export const MAC_BYTES = 32;
/** Data-plane version a server states in its HELLO. */
export const DATA_PLANE_VERSION = 1;
/** How a server wants to be approached (HELLO's mode byte). */
export const AuthMode = {
  /** anyone may ask */
  Open: 0,
  /** prove the swarm key first (AUTH, then AUTH_OK) */
  SwarmKey: 1,
} as const;
export type AuthMode = (typeof AuthMode)[keyof typeof AuthMode];

const GET_CHUNK_LENGTH = 1 + 4 + HASH_BYTES + 4;
const GET_MANIFEST_LENGTH = 1 + 4 + HASH_BYTES;
const CANCEL_LENGTH = 1 + 4;
const HELLO_LENGTH = 1 + 1 + 1 + NONCE_BYTES;
const AUTH_LENGTH = 1 + NONCE_BYTES + MAC_BYTES;
const AUTH_OK_LENGTH = 1 + MAC_BYTES;
const CHUNK_OVERHEAD = 1 + 4 + 4;
const MANIFEST_OVERHEAD = 1 + 4;
const ERROR_OVERHEAD = 1 + 4 + 2;
const ERROR_CODE = /^[A-Z_]{1,64}$/;

/** What the parser emits. `chunk-data` and `manifest` are views of the input, never copies (nonces and MACs are copies). */
export type FrameEvent =
  | { type: 'hello'; version: number; mode: AuthMode; nonce: Buffer }
  | { type: 'auth'; nonce: Buffer; mac: Buffer }
  | { type: 'auth-ok'; mac: Buffer }
  | { type: 'get-chunk'; reqId: number; fileId: string; index: number }
  | { type: 'get-manifest'; reqId: number; fileId: string }
  | { type: 'cancel'; reqId: number }
  | { type: 'manifest'; reqId: number; manifest: Buffer }
  | { type: 'error'; reqId: number; code: string; message: string }
  | { type: 'chunk-start'; reqId: number; index: number; length: number }
  | { type: 'chunk-data'; reqId: number; data: Buffer }
  | { type: 'chunk-end'; reqId: number };

export interface FrameParserOptions {
  /** Largest CHUNK body accepted (the receiver's chunk size); capped at MAX_CHUNK_SIZE. */
  maxChunkBytes?: number;
  /** Largest MANIFEST body accepted; capped at MAX_MANIFEST_BYTES. */
  maxManifestBytes?: number;
  /** Frame types this side may receive (a server takes requests, a client answers); default all. */
  accept?: readonly FrameType[];
}

/**
 * Incremental frame parser. Feed it bytes in any split with `push`; it emits events through the
 * callback. Every length is checked against its type's limit before anything is allocated; a
 * bad frame throws ProtocolError and the parser stays failed (the caller closes the connection).
 */
export class FrameParser {
  private readonly maxChunkBytes: number;
  private readonly maxManifestBytes: number;
  private readonly accept: ReadonlySet<number>;
  private readonly head = Buffer.alloc(CHUNK_HEADER_BYTES);
  private headHave = 0;
  private state: 'head' | 'chunk-head' | 'chunk-body' | 'body' = 'head';
  private frameLength = 0;
  private frameType = 0;
  private chunkReqId = 0;
  private remaining = 0;
  private body: Buffer | undefined;
  private bodyHave = 0;
  private failure: unknown;

  constructor(options: FrameParserOptions = {}) {
    this.maxChunkBytes = Math.min(options.maxChunkBytes ?? MAX_CHUNK_SIZE, MAX_CHUNK_SIZE);
    this.maxManifestBytes = Math.min(options.maxManifestBytes ?? MAX_MANIFEST_BYTES, MAX_MANIFEST_BYTES);
    this.accept = new Set<number>(options.accept ?? Object.values(FrameType));
  }

  /** True while part of a frame has arrived and the rest has not (a deadline may run on it). */
  get midFrame(): boolean {
    return this.state !== 'head' || this.headHave > 0;
  }

  /** Consume `input`; throws ProtocolError (or whatever `emit` throws) and then stays failed. */
  push(input: Buffer, emit: (event: FrameEvent) => void): void {
    if (this.failure !== undefined) throw this.failure;
    try {
      this.consume(input, emit);
    } catch (err) {
      this.failure = err;
      throw err;
    }
  }

  private consume(input: Buffer, emit: (event: FrameEvent) => void): void {
    let off = 0;
    while (off < input.length) {
      if (this.state === 'head' || this.state === 'chunk-head') {
        const want = this.state === 'head' ? 5 : CHUNK_HEADER_BYTES;
        const n = input.copy(this.head, this.headHave, off, off + want - this.headHave);
        this.headHave += n;
        off += n;
        if (this.headHave < want) return;
        if (this.state === 'head') this.beginFrame();
        else this.beginChunk(emit);
      } else if (this.state === 'chunk-body') {
        const n = Math.min(this.remaining, input.length - off);
        emit({ type: 'chunk-data', reqId: this.chunkReqId, data: input.subarray(off, off + n) });
        off += n;
        this.remaining -= n;
        if (this.remaining === 0) this.endChunk(emit);
      } else {
        const bodyLength = this.frameLength - 1;
        if (this.bodyHave === 0 && input.length - off >= bodyLength) {
          // whole body in this input: decode from a view, no copy
          const view = input.subarray(off, off + bodyLength);
          off += bodyLength;
          this.state = 'head';
          emit(decodeBody(this.frameType, view));
          continue;
        }
        this.body ??= Buffer.allocUnsafe(bodyLength);
        const n = input.copy(this.body, this.bodyHave, off, off + bodyLength - this.bodyHave);
        this.bodyHave += n;
        off += n;
        if (this.bodyHave < bodyLength) return;
        const body = this.body;
        this.body = undefined;
        this.bodyHave = 0;
        this.state = 'head';
        emit(decodeBody(this.frameType, body));
      }
    }
  }

  /** Length and type are known: check them against the type's limits before going on. */
  private beginFrame(): void {
    const length = this.head.readUInt32BE(0);
    const type = this.head[4]!;
    if (!this.accept.has(type)) throw new ProtocolError(`unexpected frame type ${type}`);
    const ok =
      type === FrameType.GetChunk ? length === GET_CHUNK_LENGTH
      : type === FrameType.GetManifest ? length === GET_MANIFEST_LENGTH
      : type === FrameType.Cancel ? length === CANCEL_LENGTH
      : type === FrameType.Hello ? length === HELLO_LENGTH
      : type === FrameType.Auth ? length === AUTH_LENGTH
      : type === FrameType.AuthOk ? length === AUTH_OK_LENGTH
      : type === FrameType.Chunk ? length >= CHUNK_OVERHEAD && length - CHUNK_OVERHEAD <= this.maxChunkBytes
      : type === FrameType.Manifest ? length >= MANIFEST_OVERHEAD && length - MANIFEST_OVERHEAD <= this.maxManifestBytes
      : type === FrameType.Error ? length > ERROR_OVERHEAD && length <= ERROR_OVERHEAD + MAX_ERROR_CODE_BYTES + MAX_ERROR_MESSAGE_BYTES
      : false;
    if (!ok) throw new ProtocolError(`bad length ${length} for frame type ${type}`);
    this.frameLength = length;
    this.frameType = type;
    if (type === FrameType.Chunk) {
      this.state = 'chunk-head';
    } else {
      this.headHave = 0;
      this.state = 'body';
    }
  }

  private beginChunk(emit: (event: FrameEvent) => void): void {
    this.headHave = 0;
    this.chunkReqId = this.head.readUInt32BE(5);
    this.remaining = this.frameLength - CHUNK_OVERHEAD;
    this.state = 'chunk-body';
    emit({ type: 'chunk-start', reqId: this.chunkReqId, index: this.head.readUInt32BE(9), length: this.remaining });
    if (this.remaining === 0) this.endChunk(emit);
  }

  private endChunk(emit: (event: FrameEvent) => void): void {
    this.state = 'head';
    emit({ type: 'chunk-end', reqId: this.chunkReqId });
  }
}

/** Decode a whole non-CHUNK frame body (the bytes after the type byte); its length was checked. */
function decodeBody(type: number, body: Buffer): FrameEvent {
  switch (type) {
    case FrameType.Hello: {
      const version = body[0]!;
      const mode = body[1]!;
      if (version !== DATA_PLANE_VERSION) throw new ProtocolError(`unsupported data-plane version ${version}`);
      if (mode !== AuthMode.Open && mode !== AuthMode.SwarmKey) throw new ProtocolError(`unknown auth mode ${mode}`);
      return { type: 'hello', version, mode, nonce: Buffer.from(body.subarray(2, 2 + NONCE_BYTES)) };
    }
    case FrameType.Auth:
      return { type: 'auth', nonce: Buffer.from(body.subarray(0, NONCE_BYTES)), mac: Buffer.from(body.subarray(NONCE_BYTES, NONCE_BYTES + MAC_BYTES)) };
    case FrameType.AuthOk:
      return { type: 'auth-ok', mac: Buffer.from(body.subarray(0, MAC_BYTES)) };
  }
  const reqId = body.readUInt32BE(0);
  switch (type) {
    case FrameType.GetChunk:
      return { type: 'get-chunk', reqId, fileId: body.toString('hex', 4, 4 + HASH_BYTES), index: body.readUInt32BE(4 + HASH_BYTES) };
    case FrameType.GetManifest:
      return { type: 'get-manifest', reqId, fileId: body.toString('hex', 4, 4 + HASH_BYTES) };
    case FrameType.Cancel:
      return { type: 'cancel', reqId };
    case FrameType.Manifest:
      return { type: 'manifest', reqId, manifest: body.subarray(4) };
    case FrameType.Error: {
      const codeLength = body.readUInt16BE(4);
      if (codeLength < 1 || codeLength > MAX_ERROR_CODE_BYTES || 6 + codeLength > body.length) {
        throw new ProtocolError(`bad error code length ${codeLength}`);
      }
      const code = body.toString('latin1', 6, 6 + codeLength);
      if (!ERROR_CODE.test(code)) throw new ProtocolError('bad error code');
      if (body.length - 6 - codeLength > MAX_ERROR_MESSAGE_BYTES) throw new ProtocolError('error message too long');
      return { type: 'error', reqId, code, message: body.toString('utf8', 6 + codeLength) };
    }
    default:
      throw new ProtocolError(`unexpected frame type ${type}`);
  }
}

function frameHead(length: number, type: FrameType, reqId: number): Buffer {
  checkReqId(reqId);
  const buf = Buffer.allocUnsafe(4 + length);
  buf.writeUInt32BE(length, 0);
  buf[4] = type;
  buf.writeUInt32BE(reqId, 5);
  return buf;
}

function checkReqId(reqId: number): void {
  if (!Number.isInteger(reqId) || reqId < 0 || reqId > 0xffffffff) throw new BadRequestError(`bad request id ${reqId}`);
}

function writeFileId(buf: Buffer, fileId: string, at: number): void {
  if (!FILE_ID.test(fileId)) throw new BadRequestError('fileId must be 64 lowercase hex digits');
  buf.write(fileId, at, HASH_BYTES, 'hex');
}

function checkIndex(index: number): void {
  if (!Number.isInteger(index) || index < 0 || index > 0xffffffff) throw new BadRequestError(`bad chunk index ${index}`);
}

/** GET_CHUNK: u32 reqId, 32-byte fileId, u32 index. */
export function encodeGetChunk(reqId: number, fileId: string, index: number): Buffer {
  checkIndex(index);
  const buf = frameHead(GET_CHUNK_LENGTH, FrameType.GetChunk, reqId);
  writeFileId(buf, fileId, 9);
  buf.writeUInt32BE(index, 9 + HASH_BYTES);
  return buf;
}

/**
 * Write a CHUNK header (13 bytes) at the start of `target`, so a server can read the chunk into
 * the same pooled buffer right after it and send both with one write, no concat.
 */
export function writeChunkHeader(target: Buffer, reqId: number, index: number, length: number): void {
  checkReqId(reqId);
  checkIndex(index);
  if (!Number.isInteger(length) || length < 0 || length > MAX_CHUNK_SIZE) throw new BadRequestError(`bad chunk length ${length}`);
  target.writeUInt32BE(CHUNK_OVERHEAD + length, 0);
  target[4] = FrameType.Chunk;
  target.writeUInt32BE(reqId, 5);
  target.writeUInt32BE(index, 9);
}

/** A standalone CHUNK header; the `length` data bytes are sent right after it. */
export function encodeChunkHeader(reqId: number, index: number, length: number): Buffer {
  const buf = Buffer.allocUnsafe(CHUNK_HEADER_BYTES);
  writeChunkHeader(buf, reqId, index, length);
  return buf;
}

/** GET_MANIFEST: u32 reqId, 32-byte fileId. */
export function encodeGetManifest(reqId: number, fileId: string): Buffer {
  const buf = frameHead(GET_MANIFEST_LENGTH, FrameType.GetManifest, reqId);
  writeFileId(buf, fileId, 9);
  return buf;
}

/** MANIFEST: u32 reqId, manifest bytes in encodeManifest form. */
export function encodeManifestFrame(reqId: number, manifest: Buffer): Buffer {
  if (manifest.length > MAX_MANIFEST_BYTES) throw new BadRequestError('manifest too large for a frame');
  const buf = frameHead(MANIFEST_OVERHEAD + manifest.length, FrameType.Manifest, reqId);
  manifest.copy(buf, 9);
  return buf;
}

/** ERROR: u32 reqId, u16 code length, ascii code, utf8 message (cut to 1024 bytes). reqId 0 = the whole connection. */
export function encodeError(reqId: number, code: ErrorCode, message: string): Buffer {
  if (!ERROR_CODE.test(code)) throw new BadRequestError(`bad error code ${code}`);
  let text = Buffer.from(message, 'utf8');
  if (text.length > MAX_ERROR_MESSAGE_BYTES) {
    // cut on a character boundary: drop a trailing partial UTF-8 sequence
    let end = MAX_ERROR_MESSAGE_BYTES;
    while (end > 0 && (text[end]! & 0xc0) === 0x80) end--;
    text = text.subarray(0, end);
  }
  const buf = frameHead(ERROR_OVERHEAD + code.length + text.length, FrameType.Error, reqId);
  buf.writeUInt16BE(code.length, 9);
  buf.write(code, 11, 'latin1');
  text.copy(buf, 11 + code.length);
  return buf;
}

/** CANCEL: u32 reqId — the client no longer wants that answer. */
export function encodeCancel(reqId: number): Buffer {
  return frameHead(CANCEL_LENGTH, FrameType.Cancel, reqId);
}

function fixed(length: number, type: FrameType): Buffer {
  const buf = Buffer.allocUnsafe(4 + length);
  buf.writeUInt32BE(length, 0);
  buf[4] = type;
  return buf;
}

function checkBytes(what: string, value: Buffer, length: number): void {
  if (value.length !== length) throw new BadRequestError(`${what} must be ${length} bytes`);
}

/** HELLO (server → client, first frame): u8 version, u8 auth mode, 32-byte nonce (zeros when open). */
export function encodeHello(mode: AuthMode, nonce: Buffer = Buffer.alloc(NONCE_BYTES)): Buffer {
  checkBytes('nonce', nonce, NONCE_BYTES);
  const buf = fixed(HELLO_LENGTH, FrameType.Hello);
  buf[5] = DATA_PLANE_VERSION;
  buf[6] = mode;
  nonce.copy(buf, 7);
  return buf;
}

/** AUTH (client → server): 32-byte client nonce, 32-byte HMAC proving the swarm key. */
export function encodeAuth(nonce: Buffer, mac: Buffer): Buffer {
  checkBytes('nonce', nonce, NONCE_BYTES);
  checkBytes('mac', mac, MAC_BYTES);
  const buf = fixed(AUTH_LENGTH, FrameType.Auth);
  nonce.copy(buf, 5);
  mac.copy(buf, 5 + NONCE_BYTES);
  return buf;
}

/** AUTH_OK (server → client): the server's 32-byte HMAC, proving it holds the key too. */
export function encodeAuthOk(mac: Buffer): Buffer {
  checkBytes('mac', mac, MAC_BYTES);
  const buf = fixed(AUTH_OK_LENGTH, FrameType.AuthOk);
  mac.copy(buf, 5);
  return buf;
}
