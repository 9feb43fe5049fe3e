// The downloading peer's main thread over a download (bench/cases/download-sched.ts): on a core,
// waiting for one, off the cores; and what download-3to1's note concludes from the two sides.
import test from 'ava';
import { mainTime, mainTimeCompare, medianTime } from '../../bench/cases/download-sched.js';
import { belowOneNote } from '../../bench/cases/download.js';
import { threadSchedstat } from '../../bench/lib/procfs.js';

const GiB = 1024 ** 3;

test('per GiB: on a core and waiting from schedstat, off the cores is the rest of the peer’s own time', (t) => {
  const before = { runSec: 10, waitSec: 1, slices: 100 };
  const after = { runSec: 12.6, waitSec: 1.4, slices: 2100 };
  // 2 GiB in 4.5 s of which 0.5 s were the get's start-up: 4 s of the peer's, 2.6 on a core, 0.4 waiting
  const m = mainTime(before, after, 4.5, 2 * GiB, 0.5)!;
  const r3 = (x: number) => Math.round(x * 1000) / 1000;
  t.is(r3(m.run), 1.3);
  t.is(r3(m.wait), 0.2);
  t.is(r3(m.off), 0.5);
  t.is(m.slices, 1000);
  // never negative, and nothing without both readings or bytes
  t.is(mainTime(before, after, 2, GiB, 1)!.off, 0);
  t.is(mainTime(undefined, after, 4, GiB), undefined);
  t.is(mainTime(before, after, 4, 0), undefined);
});

test('median field by field over the runs that have one', (t) => {
  const m = medianTime([{ run: 1, wait: 0.5, off: 0.1, slices: 10 }, undefined, { run: 3, wait: 0.1, off: 0.3, slices: 30 }, { run: 2, wait: 0.2, off: 0.2, slices: 20 }]);
  t.deepEqual(m, { run: 2, wait: 0.2, off: 0.2, slices: 20 });
  t.is(medianTime([undefined]), undefined);
});

test('the comparison gives how each time moved; the note below target concludes from what grew most', (t) => {
  const one = { run: 1.4, wait: 0.2, off: 0.3, slices: 2000 };
  const cores = { run: 1.45, wait: 0.6, off: 0.25, slices: 2500 };
  t.regex(mainTimeCompare(cores, one), /three seeders 1\.45 s on a core, 0\.60 waiting for one, 0\.25 off the cores, against 1\.40, 0\.20, 0\.30 with one \(on a core \+0\.05, waiting for one \+0\.40, off the cores −0\.05\)$/);
  t.regex(belowOneNote([0.9], 2, 1, cores, one), /load 1\.0: the cores: the downloader's main thread waited 0\.40 s\/GiB longer for one while the seeders ran, its own work \+0\.05 s\/GiB, its time without data −0\.05 \(bench\/README\.md, "Where the downloader's main thread waits"\)$/);
  const starved = { run: 1.4, wait: 0.25, off: 0.7, slices: 2000 };
  t.regex(mainTimeCompare(starved, one), /\(on a core \+0\.00, waiting for one \+0\.05, off the cores \+0\.40\)$/);
  t.regex(belowOneNote([0.9], 2, 1, starved, one), /sat 0\.40 s\/GiB longer without data \(waiting for a core \+0\.05, its own work \+0\.00\): the sources or the disk, not the cores/);
  const work = { run: 1.9, wait: 0.2, off: 0.3, slices: 2000 };
  t.regex(belowOneNote([0.9], 2, 1, work, one), /worked 0\.50 s\/GiB more/);
  t.regex(mainTimeCompare(one, cores), /\(on a core −0\.05, waiting for one −0\.40, off the cores \+0\.05\)$/);
  t.is(mainTimeCompare(undefined, one), '');
});

test('this thread’s schedstat reads, and grows while it works', (t) => {
  const a = threadSchedstat(process.pid, process.pid);
  if (a === undefined) return t.pass('no /proc schedstat on this kernel');
  let x = 0;
  for (let i = 0; i < 5e6; i++) x += i % 7;
  const b = threadSchedstat(process.pid, process.pid)!;
  t.true(x > 0);
  t.true(b.runSec > a.runSec);
  t.true(b.slices >= a.slices);
  t.is(threadSchedstat(process.pid, 1 << 30), undefined);
});

test('the machine’s idle share over the gets: the median of the runs, beside the 1-source runs’', async (t) => {
  const { idleText } = await import('../../bench/cases/download.js');
  const run = (idle?: number) => ({ rate: 500, wallRate: 450, rss: undefined, idleRss: undefined, sources: 3, cpuPerGiB: 2, seedCpuPerGiB: 1, machine: idle === undefined ? undefined : { idle, softirq: 5, user: 60, system: 100 - 65 - idle } });
  t.is(idleText([run(2), run(8), run(5)]), '; the machine idle 5 % over the gets');
  t.is(idleText([run(2), run(8), run(5)], [run(20), run(30), run()]), '; the machine idle 5 % over the gets (the 1-source runs: 25 %)');
  t.is(idleText([run()]), '');
});
