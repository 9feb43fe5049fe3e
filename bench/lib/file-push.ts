// The plain file-to-socket sender a seeder's CPU per GiB is compared with: the file read in
// 1 MiB blocks into a small pool of buffers, each block written to the socket once read, its
// buffer back in the pool once the kernel has it. Each block lands 64 bytes into its buffer, as a
// seeder's chunks do (CHUNK_DATA_AT, src/transport/chunk-sender.ts): a buffer fresh from mmap
// starts 16 bytes past a page boundary, where the kernel's copy from the page cache runs at less
// than half speed (bench/micro/copy-offset.ts); a baseline that pays it flatters the seeder. Used
// by procs/tcp-source.ts (verified-copy's sender) and micro/serve-cpu.ts.
import { open } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { CHUNK_DATA_AT } from '../../src/transport/chunk-sender.js';

const BLOCK = 1024 * 1024;
/** Where a block starts in its buffer: where a seeder's chunk starts in its. */
const AT = CHUNK_DATA_AT;

export function drained(socket: Socket): Promise<void> {
  return new Promise((resolve) => socket.once('drain', resolve));
}

/** Write `total` bytes of `path` from `start` on to `socket` (an Error if the file is shorter). */
export async function pushFile(socket: Socket, path: string, total: number, start = 0): Promise<void> {
  const fh = await open(path, 'r');
  const pool: Buffer[] = Array.from({ length: 8 }, () => Buffer.allocUnsafe(AT + BLOCK));
  let wake: (() => void) | undefined;
  const release = (buf: Buffer) => {
    pool.push(buf);
    wake?.();
  };
  try {
    for (let offset = 0; offset < total; ) {
      while (pool.length === 0) await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
      const buf = pool.pop()!;
      const { bytesRead } = await fh.read(buf, AT, Math.min(BLOCK, total - offset), start + offset);
      if (bytesRead === 0) throw new Error(`${path} is shorter than ${total} bytes`);
      offset += bytesRead;
      // the buffer goes back to the pool once the kernel has it
      const ok = socket.write(buf.subarray(AT, AT + bytesRead), () => release(buf));
      if (!ok) await drained(socket);
    }
  } finally {
    await fh.close();
  }
}
