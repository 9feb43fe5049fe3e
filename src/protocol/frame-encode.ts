// Encoders of every data-plane frame (the parser is frames.ts): each checks its arguments and
// returns the frame's bytes, or writes a chunk header in place ahead of the chunk's bytes.
import { BadRequestError, type ErrorCode } from '../errors.js';
import { FILE_ID_PATTERN as FILE_ID, HASH_BYTES, MAX_CHUNK_SIZE } from './ids.js';
import { AUTH_LENGTH, AUTH_OK_LENGTH, AuthMode, CANCEL_LENGTH, CHUNK_HEADER_BYTES, CHUNK_OVERHEAD, DATA_PLANE_VERSION, ERROR_CODE, ERROR_OVERHEAD, FrameType, GET_CHUNK_LENGTH, GET_MANIFEST_LENGTH, HELLO_LENGTH, MAC_BYTES, MANIFEST_OVERHEAD, MAX_ERROR_MESSAGE_BYTES, MAX_MANIFEST_BYTES, NONCE_BYTES } from './frame-layout.js';

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
