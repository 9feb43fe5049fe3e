// Free page reporting (a VM guest's freed memory handed back to its host some 2 s after it is
// freed) makes the first write into a page that was handed back cost the guest system time: on
// this machine a 1 GiB write into the page cache took 0.4–0.6 s of system time right after 1 GiB
// had been freed and 1.6–1.9 s after 10 s of quiet (bench/README.md, "CPU per GiB"). A CPU-per-GiB
// row and its paired baseline would then differ by when each ran, not by what each did. So both
// start the same way: right before its measured window, each writes and removes `bytes` of
// scratch, which leaves that much freshly freed page-cache memory for its own writes to land in.
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';

const BLOCK = 1 << 20;

/** Write `bytes` of zeros to a scratch file in `dir`, then remove it (outside any measured window). */
export async function freshPages(dir: string, bytes: number): Promise<void> {
  const path = join(dir, `.fresh-pages-${process.pid}`);
  const zeros = Buffer.alloc(BLOCK);
  const fh = await open(path, 'w');
  try {
    for (let at = 0; at < bytes; at += BLOCK) await fh.write(zeros, 0, Math.min(BLOCK, bytes - at), at);
  } finally {
    await fh.close();
    await rm(path, { force: true });
  }
}

/**
 * How long the machine is left alone before a measured window that writes `bytes` (override:
 * BENCH_SETTLE_MS). Runs that started right after the previous run's gigabytes were freed (its
 * download folder, its paired copy, the scratch above) ran at half speed now and then: on
 * 2026-12-03, of three back-to-back download-1to1 runs the first took 1.42 s/GiB and the next two
 * 3.2–3.6 (rate 600 → 300-320 MB/s), every function's samples in a `perf` of the peer inflated
 * alike (SHA-256 2.5 ×: the vCPU was slower, not the peer busier), while /proc showed no steal.
 * With 10 s of quiet before each window the next 19 downloads were normal (1.33–1.59 s/GiB); a later
 * full run still had one slow pair: rarer, not gone.
 */
export const SETTLE_MS = Number(process.env.BENCH_SETTLE_MS ?? 10_000);

/** Let the host finish with what was freed, then leave freshly freed page cache (see above). */
export async function settledPages(dir: string, bytes: number): Promise<void> {
  if (SETTLE_MS > 0) await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
  await freshPages(dir, bytes);
}
