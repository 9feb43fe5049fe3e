// The data plane's frame layout, shared by the parser (frames.ts) and the encoders
// (frame-encode.ts): frame types, sizes and limits, auth modes, fixed frame lengths.
import { HASH_BYTES } from './ids.js';

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

export const GET_CHUNK_LENGTH = 1 + 4 + HASH_BYTES + 4;
export const GET_MANIFEST_LENGTH = 1 + 4 + HASH_BYTES;
export const CANCEL_LENGTH = 1 + 4;
export const HELLO_LENGTH = 1 + 1 + 1 + NONCE_BYTES;
export const AUTH_LENGTH = 1 + NONCE_BYTES + MAC_BYTES;
export const AUTH_OK_LENGTH = 1 + MAC_BYTES;
export const CHUNK_OVERHEAD = 1 + 4 + 4;
export const MANIFEST_OVERHEAD = 1 + 4;
export const ERROR_OVERHEAD = 1 + 4 + 2;
export const ERROR_CODE = /^[A-Z_]{1,64}$/;
