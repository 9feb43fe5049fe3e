// The seeder CPU row's explanation (bench/cases/download-cpu.ts) follows the run's own figures: where
// the excess sits, and whether warm seeders (runs 2 and on) were over too.
import test from 'ava';
import { seedCpuWhy } from '../../bench/cases/download-cpu.js';

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
