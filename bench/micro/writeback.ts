// Micro-bench: what the part file's background write-back (src/store/writeback.ts) does to the
// end of a download. Writes a file in 1 MiB chunks at a download's pace (parallel writes of 256 KiB
// pieces at RATE MB/s, as src/store/partial-files.ts does), with `Writeback` syncing every EVERY
// MiB or not at all, then syncs the whole file as join does. Prints, per round and way: the time
// to the last write, the final sync, the total, the syncs started and this process's CPU (user +
// system, all threads). The ways alternate; each round starts on freshly removed files, after a
// pause so that the flusher is idle.
// Run: node --import tsx bench/micro/writeback.ts [MiB (1024)] [rounds (3)] [rate MB/s (400)] [every MiB (64)]
import { open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writePieces } from '../../src/store/partial-files.js';
import { Writeback } from '../../src/store/writeback.js';

const MiB = 1024 * 1024;
const [sizeMiB = 1024, rounds = 3, rateMBps = 400, everyMiB = 64] = process.argv.slice(2).map(Number);

async function once(every: number): Promise<string> {
  const path = join(tmpdir(), `p2p-writeback-${process.pid}.bin`);
  const fh = await open(path, 'w');
  const wb = new Writeback(fh, every);
  const chunk = Buffer.alloc(MiB, 7);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < sizeMiB; i++) {
    await writePieces(fh, [chunk], i * MiB, MiB);
    wb.wrote(MiB);
    const due = t0 + ((i + 1) * MiB) / (rateMBps * 1000);
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  const written = performance.now();
  await wb.syncAll();
  const done = performance.now();
  const cpu = process.cpuUsage(cpu0);
  await wb.close();
  await rm(path);
  const ms = (x: number) => `${x.toFixed(0)} ms`;
  return `writes ${ms(written - t0)}, final sync ${ms(done - written)}, total ${ms(done - t0)}, background syncs ${wb.started}, CPU user ${(cpu.user / 1e6).toFixed(2)} s + system ${(cpu.system / 1e6).toFixed(2)} s`;
}

console.log(`${sizeMiB} MiB at ${rateMBps} MB/s; background sync every ${everyMiB} MiB against the final sync alone`);
for (let r = 1; r <= rounds; r++) {
  for (const every of [0, everyMiB * MiB]) {
    await new Promise((resolve) => setTimeout(resolve, 3000));
    console.log(`round ${r}, ${every === 0 ? 'final sync only ' : `every ${everyMiB} MiB     `}: ${await once(every)}`);
  }
}
