// Data-plane TCP framing: a pure incremental parser over bytes (no sockets); the layout is in
// frame-layout.ts and the encoders in frame-encode.ts (both re-exported here).
// CHUNK bodies are streamed as views of the input so the receiver can hash and write them uncopied.
// HELLO / AUTH / AUTH_OK carry the swarm-key handshake (fixed lengths, see swarm-auth.ts).
import { ProtocolError } from '../errors.js';
import { HASH_BYTES, MAX_CHUNK_SIZE } from './ids.js';
import { AUTH_LENGTH, AUTH_OK_LENGTH, AuthMode, CANCEL_LENGTH, CHUNK_HEADER_BYTES, CHUNK_OVERHEAD, DATA_PLANE_VERSION, ERROR_CODE, ERROR_OVERHEAD, FrameType, GET_CHUNK_LENGTH, GET_MANIFEST_LENGTH, HELLO_LENGTH, MAC_BYTES, MANIFEST_OVERHEAD, MAX_ERROR_CODE_BYTES, MAX_ERROR_MESSAGE_BYTES, MAX_MANIFEST_BYTES, NONCE_BYTES } from './frame-layout.js';

export * from './frame-layout.js';
export * from './frame-encode.js';

/** Frame type byte (after the u32 big-endian length, which counts the bytes that follow it). */
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

  /** Bytes of the CHUNK body streaming now still to come (0 when not inside a chunk body). */
  get bodyRemaining(): number {
    return this.state === 'chunk-body' ? this.remaining : 0;
  }

  /** Bytes that would complete a CHUNK header from here (0 inside a body). */
  get headWanted(): number {
    return this.state === 'head' || this.state === 'chunk-head' ? CHUNK_HEADER_BYTES - this.headHave : 0;
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
