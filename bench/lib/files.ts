// Test files, made once per scratch folder and reused by every case (and by later runs with
// --keep). Up to 1 GiB: random bytes throughout. Bigger: a random 64 MiB block repeated, with the
// block's number and offset written every 64 KiB, so no two chunks of any size ≥ 64 KiB are
// alike (dedupe or caching tricks cannot flatter a result).
import { randomFillSync } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { open, rm, writeFile } from 'node:fs/promises';
import { GiB, MiB } from './stats.js';

const BLOCK = 64 * MiB;
const STRIDE = 64 * 1024;

/** Path of a test file of `size` bytes under `dir`, created unless a complete one is there. */
export async function ensureDataFile(dir: string, name: string, size: number): Promise<string> {
  const path = `${dir}/${name}`;
  const marker = `${path}.complete`;
  if (existsSync(marker) && existsSync(path) && statSync(path).size === size) return path;
  await rm(marker, { force: true });
  const fh = await open(path, 'w');
  try {
    const block = Buffer.allocUnsafe(Math.min(BLOCK, size));
    const repeat = size > GiB;
    if (repeat) randomFillSync(block);
    for (let offset = 0, n = 0; offset < size; offset += block.length, n++) {
      const len = Math.min(block.length, size - offset);
      if (repeat) {
        // block number and offset every 64 KiB: every stride of the file differs
        for (let s = 0; s + 16 <= len; s += STRIDE) {
          block.writeUInt32BE(0x62656e63, s); // "benc"
          block.writeUInt32BE(n, s + 4);
          block.writeDoubleBE(offset + s, s + 8);
        }
      } else {
        randomFillSync(block, 0, len);
      }
      await fh.write(block, 0, len, offset);
    }
  } finally {
    await fh.close();
  }
  await writeFile(marker, `${size}\n`);
  return path;
}
