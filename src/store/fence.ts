// The file-system fence: a peer writes only inside DIR/downloads/ and DIR/.p2p/, and never
// through a symlink planted there. Folders are checked to be real directories; files are
// created with O_NOFOLLOW (and O_EXCL for temp files) so a planted link is refused, not followed.
import { constants } from 'node:fs';
import { lstat, mkdir, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { IoError } from '../errors.js';

/** Make `path` (and its parents) if missing; refuse it if it is a symlink or not a directory. */
export async function ensureRealDir(path: string): Promise<void> {
  await mkdir(path, { recursive: true });
  const st = await lstat(path);
  if (st.isSymbolicLink() || !st.isDirectory()) {
    throw new IoError(`${path} must be a real directory (it is ${st.isSymbolicLink() ? 'a symlink' : 'not a directory'}); refusing to write through it`);
  }
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
export function openAppendNoFollow(path: string): Promise<FileHandle> {
  return open(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o644);
}

/** Replace `path` atomically: a fresh temp file (O_EXCL: never a planted one), then rename over. */
export async function writeFileAtomic(path: string, data: string | Buffer, opts: { sync?: boolean; mode?: number } = {}): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await unlink(tmp).catch(() => undefined);
  const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, opts.mode ?? 0o644);
  try {
    await fh.writeFile(data);
    if (opts.sync) await fh.datasync();
  } finally {
    await fh.close();
  }
  // rename replaces a planted symlink itself, never its target
  await rename(tmp, path);
}
