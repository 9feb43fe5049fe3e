// The seeder CPU row's explanation (bench/cases/download-cpu.ts) follows the run's own figures: where
// the excess sits, and whether warm seeders (runs 2 and on) were over too.
import test from 'ava';
import { seedCpuWhy, sendersText } from '../../bench/cases/download-cpu.js';
import type { DownloadRun } from '../../bench/cases/download.js';

test('over when warm too, mostly system time: not called a warm-up', (t) => {
  const why = seedCpuWhy({ user: 0.14, sys: 0.28, baselineUser: 0.08, baselineSys: 0.18 }, [1.55, 1.56, 1.48]);
  t.regex(why, /mostly system time/);
  t.regex(why, /run 1 \(fresh seeders\) 1\.55 ×, runs 2–3 \(the same seeders, warm\) 1\.56, 1\.48 ×: over when warm too/);
  t.notRegex(why, /JIT warm-up/);
});

test('within target once warm, mostly user time: the warm-up', (t) => {
  const why = seedCpuWhy({ user: 0.3, sys: 0.2, baselineUser: 0.1, baselineSys: 0.2 }, [1.6, 1.1, undefined]);
  t.regex(why, /mostly user time/);
  t.regex(why, /runs 2–3 \(the same seeders, warm\) 1\.10 ×: a warm seeder is within target/);
  t.regex(why, /JIT warm-up/);
});

test('no split and a single run: says so, no per-run clause', (t) => {
  const why = seedCpuWhy(undefined, [1.4]);
  t.regex(why, /not split/);
  t.notRegex(why, /fresh seeders/);
});

test('two runs: "run 2", not a range', (t) => {
  t.regex(seedCpuWhy(undefined, [1.6, 1.7]), /run 1 \(fresh seeders\) 1\.60 ×, run 2 \(the same seeders, warm\) 1\.70 ×/);
});

test('split by thread: the seeders’ main threads against the plain sender’s, and which side holds the excess', async (t) => {
  const { seedThreadSplit, threadText } = await import('../../bench/cases/download-cpu.js');
  const run = (seed: number, seedMain: number, send: number, sendMain: number) => ({ rate: 500, wallRate: 450, rss: undefined, idleRss: undefined, sources: 1, cpuPerGiB: 2, seedCpuPerGiB: seed, seedMainPerGiB: seedMain, paired: { rate: 400, sendCpuPerGiB: send, sendMainPerGiB: sendMain } });
  const split = seedThreadSplit([run(0.7, 0.5, 0.45, 0.35), run(0.8, 0.6, 0.5, 0.4), { ...run(9, 9, 9, 9), seedMainPerGiB: undefined }]);
  t.deepEqual(
    { main: split!.main.toFixed(2), others: split!.others.toFixed(2), bm: split!.baselineMain.toFixed(2), bo: split!.baselineOthers.toFixed(2) },
    { main: '0.55', others: '0.20', bm: '0.38', bo: '0.10' },
  );
  t.regex(threadText(split, "the plain sender's", 'main threads'), /^; main threads 0\.55 \+ other threads 0\.20 against the plain sender's 0\.38 \+ 0\.10$/);
  const why = seedCpuWhy({ user: 0.3, sys: 0.4, baselineUser: 0.15, baselineSys: 0.3 }, [1.5, 1.4], split);
  t.regex(why, /mostly user time, \+0\.18 s\/GiB in the main threads \(the event loop: requests, chunk reads from the page cache, socket writes\) and \+0\.10 in the other threads; run 1/);
  // warm seeders over too, the excess on their main threads: not told as a warm-up
  t.regex(why, /The same seeders warm are over too: per chunk, their event loop parses a request/);
  t.notRegex(why, /JIT warm-up/);
  // within target once warm: still the warm-up, split or not
  t.regex(seedCpuWhy({ user: 0.3, sys: 0.4, baselineUser: 0.15, baselineSys: 0.3 }, [1.5, 1.1], split), /JIT warm-up/);
  const pool = seedCpuWhy(undefined, [1.5], { main: 0.4, others: 0.4, baselineMain: 0.4, baselineOthers: 0.1 });
  t.regex(pool, /\+0\.30 s\/GiB in the other threads \(V8's helpers; libuv's pool for reads the page cache could not serve\) and \+0\.00 in the main threads/);
  // without the plain sender's main thread: no split
  t.is(seedThreadSplit([{ ...run(1, 1, 1, 1), paired: { rate: 400, sendCpuPerGiB: 1 } }]), undefined);
});

test('the seed row\'s second baseline: as many plain senders as seeders, run by run, and the bytes the seeders sent', (t) => {
  const run = (seed: number, senders: number | undefined, sentX: number): DownloadRun =>
    ({ rate: 500, wallRate: 450, sources: 3, seedCpuPerGiB: seed, seedSentX: sentX, pairedSenders: senders === undefined ? undefined : { rate: 300, sendCpuPerGiB: senders } }) as DownloadRun;
  const { text, detail } = sendersText([run(0.9, 0.6, 1), run(0.66, 0.6, 1.002), run(0.7, 0.5, 1)]);
  t.regex(text, /the seeders sent 1\.000 × the file/);
  t.regex(text, /as many plain senders, each sending its part over its own connection: 0\.60 s\/GiB, the seeders 1\.50, 1\.10, 1\.40 × that run by run/);
  t.deepEqual(detail.plainSendersRatios, [1.5, 1.1, 1.4]);
  // no such copies (download-1to1): only what was sent, no second baseline
  const one = sendersText([run(0.6, undefined, 1)]);
  t.is(one.text, '; the seeders sent 1.000 × the file');
  t.is(one.detail.plainSendersPerGiB, undefined);
});

test("the seed row says what the seeders cost idle: per second, and over a get's time per GiB", (t) => {
  const run = (perS: number | undefined, perGiB: number | undefined): DownloadRun =>
    ({ rate: 500, wallRate: 450, sources: 1, seedCpuPerGiB: 0.6, seedSentX: 1, seedIdleCpuPerS: perS, seedIdlePerGiB: perGiB }) as DownloadRun;
  const { text, detail } = sendersText([run(0.003, 0.008), run(0.0042, 0.011), run(0.0051, 0.012)]);
  t.is(text, "; the seeders sent 1.000 × the file; idle, the seeders took 4.2 ms/s, 0.011 s/GiB over a get's time");
  t.deepEqual(detail.seedIdleMsPerS, [3, 4.2, 5.1]);
  t.deepEqual(detail.seedIdlePerGiB, [0.008, 0.011, 0.012]);
  // not measured (a seeder gone): nothing said
  t.is(sendersText([run(undefined, undefined)]).text, '; the seeders sent 1.000 × the file');
});
