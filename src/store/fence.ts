// The file-system fence: a peer writes only inside DIR/downloads/ and DIR/.p2p/, and never
// through a symlink planted there. Folders are checked to be real directories at start, and their
// identity (device + inode) is recorded; before every create, rename or unlink under one of them
// `checkFence` checks again that each such folder on the way is still that same real directory,
// so replacing `downloads/` by a symlink while the peer runs stops the next write instead of
// sending it elsewhere. Files are created with O_NOFOLLOW (and O_EXCL for temp files) so a link
// planted in a fenced folder is refused, not followed.
import { constants, lstatSync, type BigIntStats } from 'node:fs';
import { lstat, mkdir, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { basename, resolve, sep } from 'node:path';
import { IoError } from '../errors.js';

/** Fenced folders (absolute) → the directory they were at start. */
const fenced = new Map<string, { dev: bigint; ino: bigint }>();

/** Make `path` (and its parents) if missing; refuse it if it is a symlink or not a directory; fence it (anew). */
export async function ensureRealDir(path: string): Promise<void> {
  const abs = resolve(path);
  await mkdir(abs, { recursive: true });
  const st = await lstat(abs, { bigint: true });
  if (st.isSymbolicLink() || !st.isDirectory()) {
    throw new IoError(`${path} must be a real directory (it is ${st.isSymbolicLink() ? 'a symlink' : 'not a directory'}); refusing to write through it`);
  }
  fenced.set(abs, { dev: st.dev, ino: st.ino });
}

/**
 * Refuse a write at `target` unless every fenced folder containing it is still the real directory
 * recorded at start (IoError naming the folder by its base name only: no local path in replies).
 */
export async function checkFence(target: string): Promise<void> {
  const abs = resolve(target);
  for (const [dir, id] of fenced) {
    if (abs !== dir && !abs.startsWith(dir + sep)) continue;
    const st = await lstat(dir, { bigint: true }).catch(() => undefined);
    if (!st || st.isSymbolicLink() || !st.isDirectory() || st.dev !== id.dev || st.ino !== id.ino) {
      const what = !st ? 'is gone' : st.isSymbolicLink() ? 'was replaced by a symlink' : 'was replaced';
      throw new IoError(`${basename(dir)}/ ${what} while the peer runs; refusing to write through it`);
    }
  }
}

/** `checkFence` for the few writes that open synchronously (a session's trace file). */
export function checkFenceSync(target: string): void {
  const abs = resolve(target);
  for (const [dir, id] of fenced) {
    if (abs !== dir && !abs.startsWith(dir + sep)) continue;
    let st: BigIntStats | undefined;
    try {
      st = lstatSync(dir, { bigint: true });
    } catch {
      st = undefined;
    }
    if (!st || st.isSymbolicLink() || !st.isDirectory() || st.dev !== id.dev || st.ino !== id.ino) {
      throw new IoError(`${basename(dir)}/ was replaced while the peer runs; refusing to write through it`);
    }
  }
}

/** Forget the fenced folders under `root` (a peer stopping; tests running several peers). */
export function unfence(root: string): void {
  const abs = resolve(root);
  for (const dir of [...fenced.keys()]) if (dir === abs || dir.startsWith(abs + sep)) fenced.delete(dir);
}

/** Refuse a path that exists as a symlink (for files opened by libraries that follow links). */
export async function assertNotSymlink(path: string): Promise<void> {
  try {
    if ((await lstat(path)).isSymbolicLink()) throw new IoError(`${path} is a symlink; refusing to write through it`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** Open for appending without following a symlink at `path`. */
export async function openAppendNoFollow(path: string): Promise<FileHandle> {
  await checkFence(path);
  return open(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o644);
}

/** Replace `path` atomically: a fresh temp file (O_EXCL: never a planted one), then rename over. */
export async function writeFileAtomic(path: string, data: string | Buffer, opts: { sync?: boolean; mode?: number } = {}): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await checkFence(path);
  await unlink(tmp).catch(() => undefined);
  const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, opts.mode ?? 0o644);
  try {
    await fh.writeFile(data);
    if (opts.sync) await fh.datasync();
  } finally {
    await fh.close();
  }
  // rename replaces a planted symlink itself, never its target
  await checkFence(path);
  await rename(tmp, path);
}
