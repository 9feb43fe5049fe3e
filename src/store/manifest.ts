// Chunk math and the content address. A file's manifest is (size, chunkSize, SHA-256 of every
// chunk); its fileId is the SHA-256 of the manifest's canonical bytes, so a downloader can check
// any manifest it receives against the id before it trusts a single chunk hash.
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';
import { ManifestMismatchError, ProtocolError } from '../errors.js';

/** size, chunk size and the 32-byte SHA-256 of every chunk, in order. */
export interface Manifest {
  size: number;
  chunkSize: number;
  hashes: Buffer[];
}

export { HASH_BYTES, MAX_CHUNK_SIZE } from '../protocol/ids.js';
import { DEFAULT_LARGE_FILE_SIZE, DEFAULT_MAX_CHUNKS, DEFAULT_MIN_CHUNK_SIZE, HASH_BYTES, MAX_CHUNK_SIZE } from '../protocol/ids.js';
const MAGIC = Buffer.from('p2p-manifest/1\n', 'ascii');

/** The chunk settings a file's id depends on (`peer.minChunkSize`, `peer.largeFileSize`, `peer.maxChunks`). */
export interface ChunkSettings {
  minChunkSize?: number;
  /** files this size or larger start from twice minChunkSize; 0: never */
  largeFileSize?: number;
  maxChunks?: number;
}

/**
 * minChunkSize (twice that from largeFileSize up), doubled while the chunk count is over
 * maxChunks, at most MAX_CHUNK_SIZE. With the defaults: 512 KiB below 1 GiB, 1 MiB up to 8 GiB.
 */
export function chooseChunkSize(size: number, settings: ChunkSettings = {}): number {
  const { minChunkSize = DEFAULT_MIN_CHUNK_SIZE, largeFileSize = DEFAULT_LARGE_FILE_SIZE, maxChunks = DEFAULT_MAX_CHUNKS } = settings;
  let chunk = largeFileSize > 0 && size >= largeFileSize ? Math.min(2 * minChunkSize, MAX_CHUNK_SIZE) : minChunkSize;
  while (Math.ceil(size / chunk) > maxChunks && chunk < MAX_CHUNK_SIZE) chunk *= 2;
  return chunk;
}

export function chunkCount(size: number, chunkSize: number): number {
  return Math.ceil(size / chunkSize);
}

/** Byte length of chunk `index` (the last one may be short). */
export function chunkLength(size: number, chunkSize: number, index: number): number {
  return Math.min(chunkSize, size - index * chunkSize);
}

/**
 * Canonical bytes: "p2p-manifest/1\n", u64 size, u32 chunkSize, u32 count (all big-endian),
 * then the raw hashes. This is both the wire form (over TCP) and what the fileId hashes.
 */
export function encodeManifest(m: Manifest): Buffer {
  const head = Buffer.alloc(MAGIC.length + 16);
  MAGIC.copy(head, 0);
  head.writeBigUInt64BE(BigInt(m.size), MAGIC.length);
  head.writeUInt32BE(m.chunkSize, MAGIC.length + 8);
  head.writeUInt32BE(m.hashes.length, MAGIC.length + 12);
  return Buffer.concat([head, ...m.hashes]);
}

/** The fileId (lowercase hex) of a manifest. */
export function fileIdOf(m: Manifest): string {
  return createHash('sha256').update(encodeManifest(m)).digest('hex');
}

/** Parse manifest bytes from the network; checks every length and, if given, the fileId. */
export function decodeManifest(buf: Uint8Array, expectedFileId?: string): Manifest {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.length < MAGIC.length + 16 || !b.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new ProtocolError('not a p2p manifest');
  }
  const size = Number(b.readBigUInt64BE(MAGIC.length));
  const chunkSize = b.readUInt32BE(MAGIC.length + 8);
  const count = b.readUInt32BE(MAGIC.length + 12);
  if (!Number.isSafeInteger(size) || chunkSize < 1 || chunkSize > MAX_CHUNK_SIZE) throw new ProtocolError('manifest has bad size or chunk size');
  if (count !== chunkCount(size, chunkSize)) throw new ProtocolError('manifest chunk count does not match its size');
  if (b.length !== MAGIC.length + 16 + count * HASH_BYTES) throw new ProtocolError('manifest length does not match its chunk count');
  const hashes: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const at = MAGIC.length + 16 + i * HASH_BYTES;
    hashes.push(Buffer.from(b.subarray(at, at + HASH_BYTES)));
  }
  const m = { size, chunkSize, hashes };
  if (expectedFileId !== undefined && fileIdOf(m) !== expectedFileId) {
    throw new ManifestMismatchError(`manifest does not hash to fileId ${expectedFileId.slice(0, 12)}…`);
  }
  return m;
}

/** Hash a file on disk into its manifest, reading in chunk-sized pieces into one reused buffer. */
export async function hashFile(path: string, chunkSize: number, signal?: AbortSignal): Promise<Manifest> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    const count = chunkCount(size, chunkSize);
    const buf = Buffer.allocUnsafe(Math.min(chunkSize, Math.max(size, 1)));
    const hashes: Buffer[] = [];
    for (let i = 0; i < count; i++) {
      signal?.throwIfAborted();
      const len = chunkLength(size, chunkSize, i);
      let got = 0;
      while (got < len) {
        const { bytesRead } = await fh.read(buf, got, len - got, i * chunkSize + got);
        if (bytesRead === 0) throw new ProtocolError(`file ${path} shrank while hashing`);
        got += bytesRead;
      }
      hashes.push(createHash('sha256').update(buf.subarray(0, len)).digest());
    }
    return { size, chunkSize, hashes };
  } finally {
    await fh.close();
  }
}
