// Micro-bench of the kernel's copy between the page cache and a user buffer, by where in a page
// the user's bytes start. A seeder reads each chunk from the page cache into a pooled buffer
// (pread); a downloader writes each chunk from one into its part file (pwrite). Both copies run
// in the kernel (copy_page_to_iter / copy_page_from_iter, `rep movsb` on this AMD EPYC), and their
// speed depends on the distance between the page-aligned file side and the buffer side, modulo a
// page: a few bytes apart, the copy runs at a fraction of its speed. JavaScript cannot see a
// buffer's address, but a big buffer fresh from the allocator (mmap) starts 16 bytes past a page
// boundary, every time; this bench allocates its buffers so and reports the CPU per GiB for each
// offset into them, so `offset 0` is page offset 16. It found CHUNK_DATA_AT
// (src/transport/chunk-sender.ts): a chunk read 13 bytes into such a buffer, after its header,
// cost 2.4 × the CPU of one read 64 bytes in (6 × at page offsets 1–15). Writes care less: a
// source 16 bytes off a 32-byte boundary costs about 1.5 × an aligned one.
// Run: node --import tsx bench/micro/copy-offset.ts [file (default: 1 GiB of random bytes in $TMPDIR)] [rounds (3)]
import { openSync, closeSync, fstatSync, readSync, writeSync, ftruncateSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureDataFile } from '../lib/files.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
/** Offsets into the buffers tried: around the 16 bytes the allocator puts before them, and far off. */
const OFFSETS = [0, 8, 13, 15, 16, 32, 48, 64, 512, 2048, 4064, 4080, 4083, 4088];
/** Buffers cycled through, as a seeder's pool does. */
const BUFFERS = 8;
/** Bytes copied per offset and round. */
const BYTES = 512 * MiB;

function cpuSec(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

/** CPU seconds per GiB of copying BYTES in 1 MiB pieces, each at `offset` in its buffer. */
function perGiB(copy: (buf: Buffer, offset: number, position: number) => void, buffers: Buffer[], offset: number): number {
  const before = cpuSec();
  for (let i = 0; i < BYTES / MiB; i++) copy(buffers[i % buffers.length]!, offset, i * MiB);
  return ((cpuSec() - before) * GiB) / BYTES;
}

async function main(): Promise<void> {
  const rounds = Number(process.argv[3] ?? 3);
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 20) throw new Error('rounds must be 1 to 20');
  const file = process.argv[2] || (await ensureDataFile(tmpdir(), 'p2p-serve-cpu-1GiB.bin', GiB));
  const scratch = join(tmpdir(), `p2p-copy-offset-${process.pid}.bin`);
  // big buffers, each its own allocation (mmap: 16 bytes past a page boundary)
  const buffers = Array.from({ length: BUFFERS }, () => Buffer.allocUnsafeSlow(MiB + 8192).fill(1));
  const src = openSync(file, 'r');
  const size = fstatSync(src).size;
  if (size < BYTES) {
    closeSync(src);
    throw new Error(`${file} has ${size} bytes; the bench reads ${BYTES} from it`);
  }
  const dst = openSync(scratch, 'w+');
  try {
    // the file in the page cache before the first timed read (a seeder's hot chunks)
    for (let i = 0; i < Math.floor(size / MiB); i++) readSync(src, buffers[0]!, 0, MiB, i * MiB);
    ftruncateSync(dst, BYTES);
    // the scratch file's pages exist before the first timed write (a page cache hit, like a part file's rewrite)
    for (let i = 0; i < BYTES / MiB; i++) writeSync(dst, buffers[0]!, 0, MiB, i * MiB);
    const read = (buf: Buffer, offset: number, position: number) => void readSync(src, buf, offset, MiB, position);
    const write = (buf: Buffer, offset: number, position: number) => void writeSync(dst, buf, offset, MiB, position);
    const results = new Map<number, { read: number[]; write: number[] }>(OFFSETS.map((o) => [o, { read: [], write: [] }]));
    for (let round = 0; round < rounds; round++) {
      for (const offset of OFFSETS) {
        results.get(offset)!.read.push(perGiB(read, buffers, offset));
        results.get(offset)!.write.push(perGiB(write, buffers, offset));
      }
    }
    const fmt = (xs: number[]) => xs.map((x) => x.toFixed(3)).join(' ');
    console.log(`CPU s/GiB of 1 MiB copies between the page cache and buffers fresh from mmap, by offset into them (${rounds} rounds, ${BYTES / MiB} MiB each)`);
    console.log('offset  page offset  pread (file → buffer)   pwrite (buffer → file)');
    for (const [offset, r] of results) console.log(`${String(offset).padStart(6)}  ${String((offset + 16) % 4096).padStart(11)}  ${fmt(r.read).padEnd(22)}  ${fmt(r.write)}`);
  } finally {
    closeSync(src);
    closeSync(dst);
    rmSync(scratch, { force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
