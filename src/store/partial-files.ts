// The files beside a download in progress, for partial.ts: their paths, the state file (the
// bitfield of verified chunks), small side files read with a size cap, atomic writes, chunk
// writes at an offset, and placing the joined file under a free name without overwriting.
import { constants } from 'node:fs';
import { copyFile, link, mkdir, open, readFile, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { checkFence, writeFileAtomic } from './fence.js';
import { chunkCount, decodeManifest, type Manifest } from './manifest.js';
import { P2PError } from '../errors.js';
import { uniqueName } from './names.js';

const MAX_SIDE_FILE_BYTES = 32 * 1024 * 1024;
/** Link errors that mean "this file system cannot hard-link here": fall back to reserve + rename. */
const NO_LINK = new Set(['EXDEV', 'EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EMLINK']);

/** The state file's JSON. */
export interface StateFile {
  v: 1;
  fileId: string;
  name: string;
  size: number;
  chunkSize: number;
  verified: string;
}

export function sidePaths(chunksDir: string, fileId: string) {
  const at = (ext: string) => join(chunksDir, `${fileId}.${ext}`);
  return { part: at('part'), state: at('state'), manifest: at('manifest') };
}

/** Save the bitfield of verified chunks (tmp + rename, not synced: a resume re-hashes what it claims). */
export async function writeState(path: string, d: { fileId: string; name: string; manifest: Manifest; bits: Buffer }): Promise<void> {
  const state: StateFile = { v: 1, fileId: d.fileId, name: d.name, size: d.manifest.size, chunkSize: d.manifest.chunkSize, verified: d.bits.toString('base64') };
  await writeAtomically(path, Buffer.from(JSON.stringify(state)), false);
}

/** A manifest saved beside a download, checked against its fileId; undefined if absent or bad. */
export async function loadSavedManifest(path: string, fileId: string): Promise<Manifest | undefined> {
  const bytes = await readSmallFile(path);
  if (!bytes) return undefined;
  try {
    return decodeManifest(bytes, fileId);
  } catch {
    return undefined;
  }
}

/** The bitfield from a state file that matches this download, or undefined. */
export async function readState(path: string, fileId: string, manifest: Manifest): Promise<Uint8Array | undefined> {
  const bytes = await readSmallFile(path);
  if (!bytes) return undefined;
  try {
    const s = JSON.parse(bytes.toString('utf8')) as Partial<StateFile>;
    if (s.v !== 1 || s.fileId !== fileId || s.size !== manifest.size || s.chunkSize !== manifest.chunkSize) return undefined;
    if (typeof s.verified !== 'string') return undefined;
    const bits = Buffer.from(s.verified, 'base64');
    if (bits.length !== Math.ceil(chunkCount(manifest.size, manifest.chunkSize) / 8)) return undefined;
    return new Uint8Array(bits);
  } catch {
    return undefined;
  }
}

export async function readSmallFile(path: string): Promise<Buffer | undefined> {
  try {
    if ((await stat(path)).size > MAX_SIDE_FILE_BYTES) return undefined;
    return await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Fill `buf` from `fh` at `position`; an IO_ERROR naming `what` if the file ends first. */
export async function readFully(fh: FileHandle, buf: Buffer, position: number, what: string): Promise<void> {
  for (let got = 0; got < buf.length; ) {
    const { bytesRead } = await fh.read(buf, got, buf.length - got, position + got);
    if (bytesRead === 0) throw new P2PError('IO_ERROR', `${what} is short`);
    got += bytesRead;
  }
}

/** Write to a temp name, (fdatasync,) rename over: readers see the old or the new bytes, never half. */
export async function writeAtomically(path: string, bytes: Buffer, sync = true): Promise<void> {
  await writeFileAtomic(path, bytes, { sync });
}

/**
 * Bytes per write of a chunk. One 1 MiB write into the page cache cost 1.8–3.3 CPU s per GiB
 * (most of it system time) against 1.43–1.49 for the same bytes in 256 KiB writes issued together,
 * on Linux 6.18 / ext4 (bench/README.md, "The page-cache copy").
 */
export const WRITE_PIECE_BYTES = 256 * 1024;

/** Write `slices` (`total` bytes) at `position` in pieces of at most WRITE_PIECE_BYTES, all at once. */
export async function writePieces(fh: FileHandle, slices: Buffer[], position: number, total: number, piece = WRITE_PIECE_BYTES): Promise<void> {
  if (total <= piece) return writeAll(fh, slices, position, total);
  const parts: Array<{ part: Buffer; at: number }> = [];
  let at = position;
  for (const s of slices) {
    for (let off = 0; off < s.length; off += piece) {
      const part = s.subarray(off, Math.min(s.length, off + piece));
      parts.push({ part, at });
      at += part.length;
    }
  }
  if (at - position !== total) throw new P2PError('IO_ERROR', `chunk slices hold ${at - position} bytes, expected ${total}`);
  // every piece settles before this returns (the buffers go back to their pool afterwards)
  const results = await Promise.allSettled(parts.map(({ part, at }) => writeAll(fh, [part], at, part.length)));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

export async function writeAll(fh: FileHandle, slices: Buffer[], position: number, total: number): Promise<void> {
  let rest = slices;
  let done = 0;
  while (done < total) {
    const { bytesWritten } = await fh.writev(rest, position + done);
    if (bytesWritten <= 0) throw new P2PError('IO_ERROR', 'write made no progress');
    done += bytesWritten;
    if (done < total) rest = skipBytes(rest, bytesWritten);
  }
}

export function skipBytes(slices: Buffer[], n: number): Buffer[] {
  const out: Buffer[] = [];
  for (const s of slices) {
    if (n >= s.length) n -= s.length;
    else {
      out.push(n > 0 ? s.subarray(n) : s);
      n = 0;
    }
  }
  return out;
}

/** `mkdir -p dir`, once the fence (see fence.ts) still holds around it. */
export async function mkdirFenced(dir: string): Promise<void> {
  await checkFence(dir);
  await mkdir(dir, { recursive: true });
}

/**
 * Give `src` a free name in `dir` without ever replacing an existing file: hard link to the
 * first free variant (link fails with EEXIST instead of overwriting), then unlink the temp name.
 * Where hard links are impossible, reserve the name with O_EXCL and rename onto our placeholder.
 */
export async function placeWithoutOverwrite(src: string, dir: string, base: string, fileId: string): Promise<string> {
  try {
    const dest = await claimName(dir, base, async (candidate) => (await checkFence(candidate), await link(src, candidate)));
    await checkFence(src);
    await unlink(src);
    return dest;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (!NO_LINK.has(code)) throw err;
  }
  let from = src;
  if (!(await sameDevice(src, dir))) {
    from = join(dir, `.${fileId}.joining`);
    await checkFence(from);
    await copyFile(src, from, constants.COPYFILE_EXCL);
    const fh = await open(from, constants.O_RDWR | constants.O_NOFOLLOW);
    await fh.sync().finally(() => fh.close());
  }
  const dest = await claimName(dir, base, async (candidate) => {
    await checkFence(candidate);
    await (await open(candidate, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644)).close();
  });
  await checkFence(dest);
  await rename(from, dest);
  if (from !== src) await unlink(src);
  return dest;
}

export async function claimName(dir: string, base: string, claim: (path: string) => Promise<void>): Promise<string> {
  const taken = new Set<string>();
  for (;;) {
    const name = uniqueName(base, (c) => taken.has(c));
    const dest = join(dir, name);
    try {
      await claim(dest);
      return dest;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      taken.add(name);
    }
  }
}

export async function sameDevice(a: string, b: string): Promise<boolean> {
  const [sa, sb] = await Promise.all([stat(a), stat(b)]);
  return sa.dev === sb.dev;
}

/** fsync a directory so a rename in it survives a crash; not possible everywhere (Windows). */
export async function syncDir(dir: string): Promise<void> {
  try {
    const fh = await open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    // best effort
  }
}
