// The downloading peer's CPU row (bench/cases/download-cpu.ts) splits its CPU by thread against the
// paired receiver's and, when over target, says which threads hold the excess, from the run's own
// figures.
import test from 'ava';
import { downloaderCpuWhy, threadSplit, threadText } from '../../bench/cases/download-cpu.js';
import type { DownloadRun } from '../../bench/cases/download.js';

const run = (cpu: number, main: number, recv: number, recvMain: number): DownloadRun => ({
  rate: 500,
  wallRate: 450,
  rss: undefined,
  idleRss: undefined,
  sources: 1,
  cpuPerGiB: cpu,
  mainPerGiB: main,
  seedCpuPerGiB: 0.8,
  paired: { rate: 450, recvCpuPerGiB: recv, recvMainPerGiB: recvMain },
});

test('the split is the medians of the runs that have both sides, the rest being total minus main', (t) => {
  const split = threadSplit([run(2.1, 1.4, 2.0, 1.6), run(2.4, 1.5, 1.9, 1.5), run(3.0, 1.6, 2.2, 1.7), { ...run(9, 9, 9, 9), mainPerGiB: undefined }]);
  t.truthy(split);
  t.is(split!.main, 1.5);
  t.is(split!.baselineMain, 1.6);
  t.is(Math.round(split!.others * 100) / 100, 0.9);
  t.is(Math.round(split!.baselineOthers * 100) / 100, 0.4);
  t.regex(threadText(split), /main thread 1\.50 \+ other threads 0\.90 against the receiver's 1\.60 \+ 0\.40/);
});

test('no run with a receiver main-thread figure: no split, and the explanation says so', (t) => {
  const split = threadSplit([{ ...run(2, 1, 2, 1), paired: { rate: 450, recvCpuPerGiB: 2 } }]);
  t.is(split, undefined);
  t.is(threadText(split), '');
  t.regex(downloaderCpuWhy(split), /not split by thread/);
});

test('excess in the other threads only: names them, not the main thread', (t) => {
  const why = downloaderCpuWhy({ main: 1.4, others: 0.9, baselineMain: 1.6, baselineOthers: 0.4 });
  t.regex(why, /the excess is in the other threads \(main thread −0\.20 s\/GiB, other threads \+0\.50/);
  t.regex(why, /inode lock/);
  t.notRegex(why, /SHA-256 has cost/);
});

test('excess on both sides: both explained', (t) => {
  const why = downloaderCpuWhy({ main: 1.9, others: 0.9, baselineMain: 1.6, baselineOthers: 0.5 });
  t.regex(why, /the excess is in both \(main thread \+0\.30 s\/GiB, other threads \+0\.40/);
  t.regex(why, /inode lock/);
  t.regex(why, /SHA-256 has cost/);
});

test('excess in the main thread only', (t) => {
  const why = downloaderCpuWhy({ main: 2.0, others: 0.4, baselineMain: 1.5, baselineOthers: 0.5 });
  t.regex(why, /the excess is in the main thread \(main thread \+0\.50/);
  t.notRegex(why, /inode lock/);
});
