// One download's state on disk: the temp file filled at chunk offsets, the bitfield of verified
// chunks (persisted often, never fsynced: a resume re-hashes every chunk it claims, so a crash of
// the process or the OS can cost time but never correctness), resume, atomic join.
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { resolve } from 'node:path';
import { BadRequestError, ManifestMismatchError, P2PError, toP2PError } from '../errors.js';
import { chunkLength, encodeManifest, fileIdOf, type Manifest } from './manifest.js';
import { safeBaseName } from './names.js';
import { loadSavedManifest, mkdirFenced, placeWithoutOverwrite, readFully, readState, sidePaths, syncDir, writePieces, writeAtomically, writeState } from './partial-files.js';
import { FILE_ID_PATTERN as FILE_ID } from '../protocol/ids.js';
import { checkFence } from './fence.js';
import { SYNC_EVERY_BYTES, Writeback } from './writeback.js';

export interface PartialOptions {
  chunksDir: string;
  fileId: string;
  manifest: Manifest;
  /** the file's name as announced; reduced to a safe base name (checked at open, used at join) */
  name: string;
  /** how long verified chunks may stay unpersisted in the state file (default 250 ms) */
  persistIntervalMs?: number;
  /** a background fdatasync of the part file every this many bytes written (writeback.ts; default 64 MiB, 0: at join only) */
  syncEveryBytes?: number;
}

/**
 * A download in progress: `<fileId>.part` (sized to the file), `<fileId>.state` (name and the
 * bitfield of verified chunks) and `<fileId>.manifest` under chunksDir. One instance per fileId
 * at a time (the owner guarantees it).
 */
export class PartialDownload {
  readonly fileId: string;
  readonly manifest: Manifest;
  readonly name: string;
  private readonly paths: { part: string; state: string; manifest: string };
  private readonly bits: Uint8Array;
  private readonly count: number;
  private readonly persistIntervalMs: number;
  private verified = 0;
  private bytes = 0;
  private dirty = false;
  private persistTimer: NodeJS.Timeout | undefined;
  private persistChain: Promise<void> = Promise.resolve();
  private failure: P2PError | undefined;
  private closed = false;
  readonly writeback: Writeback;

  private constructor(private readonly fh: FileHandle, opts: PartialOptions, bits: Uint8Array) {
    this.writeback = new Writeback(fh, opts.syncEveryBytes ?? SYNC_EVERY_BYTES);
    this.fileId = opts.fileId;
    this.manifest = opts.manifest;
    this.name = opts.name;
    this.persistIntervalMs = opts.persistIntervalMs ?? 250;
    this.count = opts.manifest.hashes.length;
    this.bits = bits;
    this.paths = sidePaths(opts.chunksDir, opts.fileId);
    for (let i = 0; i < this.count; i++) {
      if (this.has(i)) {
        this.verified++;
        this.bytes += chunkLength(opts.manifest.size, opts.manifest.chunkSize, i);
      }
    }
  }

  /**
   * Open (or resume) the download of `fileId`. Chunks claimed by a state file left by an earlier
   * run are re-hashed from the part file before they count (`resumeCheck` reports the result).
   */
  static async open(opts: PartialOptions): Promise<PartialDownload> {
    const { chunksDir, fileId, manifest } = opts;
    if (!FILE_ID.test(fileId)) throw new BadRequestError('fileId must be 64 lowercase hex digits');
    if (fileIdOf(manifest) !== fileId) throw new ManifestMismatchError(`manifest does not hash to fileId ${fileId.slice(0, 12)}…`);
    safeBaseName(opts.name);
    const paths = sidePaths(chunksDir, fileId);
    try {
      await mkdirFenced(chunksDir);
      await checkFence(paths.part);
      let bits = await readState(paths.state, fileId, manifest);
      const fh = await open(paths.part, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o644);
      try {
        const { size } = await fh.stat();
        // a part file that is not the size we left it cannot back the bitfield
        if (bits && size !== manifest.size) bits = undefined;
        // a part file of the right size but no usable state (e.g. the disk was full when the state
        // was due): claim every chunk and let the re-hash below keep the ones that are really there
        if (!bits && size === manifest.size && size > 0) bits = new Uint8Array(Math.ceil(manifest.hashes.length / 8)).fill(0xff);
        if (size !== manifest.size) await fh.truncate(manifest.size);
        if (!(await PartialDownload.loadManifest(chunksDir, fileId))) await writeAtomically(paths.manifest, encodeManifest(manifest));
        const download = new PartialDownload(fh, opts, bits ?? new Uint8Array(Math.ceil(manifest.hashes.length / 8)));
        if (bits) await download.reverify();
        else {
          download.dirty = true;
          await download.flush();
        }
        return download;
      } catch (err) {
        await fh.close();
        throw err;
      }
    } catch (err) {
      throw toP2PError(err);
    }
  }

  /** The manifest saved with a download, checked against its fileId; undefined if absent or bad. */
  static async loadManifest(chunksDir: string, fileId: string): Promise<Manifest | undefined> {
    return FILE_ID.test(fileId) ? loadSavedManifest(sidePaths(chunksDir, fileId).manifest, fileId) : undefined;
  }

  /** What the resume check found: chunks claimed by the state file, and how many of them held. */
  resumeCheck = { claimed: 0, kept: 0 };

  /** Re-hash every claimed chunk; drop the ones whose bytes do not match (unsynced at a crash). */
  private async reverify(): Promise<void> {
    const buf = Buffer.allocUnsafe(Math.min(this.manifest.chunkSize, Math.max(1, this.manifest.size)));
    let claimed = 0;
    for (let i = 0; i < this.count; i++) {
      if (!this.has(i)) continue;
      claimed++;
      const chunk = await this.readChunk(i, buf);
      if (!createHash('sha256').update(chunk).digest().equals(this.manifest.hashes[i]!)) {
        this.bits[i >> 3]! &= ~(1 << (i & 7));
        this.verified--;
        this.bytes -= chunk.length;
        this.dirty = true;
      }
    }
    this.resumeCheck = { claimed, kept: this.verified };
    if (this.dirty) await this.flush();
  }

  has(index: number): boolean {
    return index >= 0 && index < this.count && (this.bits[index >> 3]! & (1 << (index & 7))) !== 0;
  }

  verifiedCount(): number {
    return this.verified;
  }

  /** A copy of the bitfield of verified chunks (bit i of byte i >> 3, least significant first). */
  bitfield(): Uint8Array {
    return Uint8Array.from(this.bits);
  }

  /** The temp file the chunks are written to (served to other peers while downloading). */
  get partPath(): string {
    return this.paths.part;
  }

  verifiedBytes(): number {
    return this.bytes;
  }

  missing(): number[] {
    return Array.from({ length: this.count }, (_, i) => i).filter((i) => !this.has(i));
  }

  isComplete(): boolean {
    return this.verified === this.count;
  }

  /** Write a verified chunk (its slices, in order) at the chunk's offset, then mark it verified. */
  async writeChunk(index: number, slices: Buffer[]): Promise<void> {
    this.usable();
    this.writeback.check();
    const expected = this.chunkBytes(index);
    let total = 0;
    for (const s of slices) total += s.length;
    if (total !== expected) throw new BadRequestError(`chunk ${index} has ${total} bytes, expected ${expected}`);
    if (this.has(index)) return;
    try {
      await writePieces(this.fh, slices, index * this.manifest.chunkSize, total);
    } catch (err) {
      throw toP2PError(err);
    }
    this.writeback.wrote(total);
    if (this.has(index)) return;
    this.bits[index >> 3]! |= 1 << (index & 7);
    this.verified++;
    this.bytes += total;
    this.dirty = true;
    this.schedulePersist();
  }

  /** Read a verified chunk back (for serving a partially downloaded file). */
  async readChunk(index: number, into?: Buffer): Promise<Buffer> {
    this.usable();
    const length = this.chunkBytes(index);
    if (!this.has(index)) throw new BadRequestError(`chunk ${index} is not verified yet`);
    const buf = into ? into.subarray(0, length) : Buffer.allocUnsafe(length);
    if (buf.length < length) throw new BadRequestError('buffer too small for chunk');
    try {
      await readFully(this.fh, buf, index * this.manifest.chunkSize, `part file of ${this.fileId.slice(0, 12)}…`);
    } catch (err) {
      throw toP2PError(err);
    }
    return buf;
  }

  /** Persist the bitfield now. */
  async flush(): Promise<void> {
    if (this.persistTimer) clearTimeout(this.persistTimer);
    this.persistTimer = undefined;
    await this.persist();
    if (this.failure) throw this.failure;
  }

  /**
   * Move the finished file to a unique safe name in downloadsDir (never overwriting anything),
   * fsync, remove the side files; returns the final absolute path.
   */
  async join(downloadsDir: string): Promise<string> {
    this.usable();
    if (!this.isComplete()) throw new P2PError('INTERNAL', `download ${this.fileId.slice(0, 12)}… is not complete`);
    const base = safeBaseName(this.name);
    try {
      await this.flush();
      await this.writeback.syncAll();
      this.closed = true;
      await this.fh.close();
      await mkdirFenced(downloadsDir);
      const dest = await placeWithoutOverwrite(this.paths.part, downloadsDir, base, this.fileId);
      await syncDir(downloadsDir);
      await checkFence(this.paths.state);
      await rm(this.paths.state, { force: true });
      await rm(this.paths.manifest, { force: true });
      return resolve(dest);
    } catch (err) {
      throw toP2PError(err);
    }
  }

  /** Persist and close; idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await this.flush();
    } finally {
      this.closed = true;
      await this.writeback.close();
    }
  }

  /** Close without persisting and remove the temp files (cancel). */
  async discard(): Promise<void> {
    if (this.persistTimer) clearTimeout(this.persistTimer);
    this.persistTimer = undefined;
    await this.persistChain;
    if (!this.closed) {
      this.closed = true;
      await this.writeback.close();
    }
    await checkFence(this.paths.part);
    for (const p of Object.values(this.paths)) await rm(p, { force: true });
  }

  private usable(): void {
    if (this.closed) throw new P2PError('INTERNAL', 'download is closed');
    if (this.failure) throw this.failure;
  }

  private chunkBytes(index: number): number {
    if (!Number.isInteger(index) || index < 0 || index >= this.count) throw new BadRequestError(`chunk index ${index} out of range`);
    return chunkLength(this.manifest.size, this.manifest.chunkSize, index);
  }

  private schedulePersist(): void {
    if (this.persistTimer || this.closed) return;
    this.persistTimer = setTimeout(() => {
      this.persistTimer = undefined;
      void this.persist();
    }, this.persistIntervalMs);
    this.persistTimer.unref();
  }

  /**
   * Serialised: write the bitfield (atomically, tmp + rename). Not synced, nor tied to a sync of
   * the part file (which a background Writeback syncs as it fills, never holding a write back, and
   * join once more): a resume re-hashes claimed chunks anyway. Never rejects.
   */
  private persist(): Promise<void> {
    this.persistChain = this.persistChain.then(async () => {
      if (!this.dirty || this.failure || this.closed) return;
      this.dirty = false;
      const snapshot = Buffer.from(this.bits);
      try {
        await writeState(this.paths.state, { fileId: this.fileId, name: this.name, manifest: this.manifest, bits: snapshot });
      } catch (err) {
        this.dirty = true;
        this.failure = toP2PError(err);
        // a stale state file would hide chunks written since: without one, a resume re-checks
        // the whole part file (unlink works even on a full disk)
        await rm(this.paths.state, { force: true }).catch(() => undefined);
      }
    });
    return this.persistChain;
  }
}
