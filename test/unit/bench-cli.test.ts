// The bench's command line (bench/run.ts, built to dist/ by `npm test`): --help lists the options
// and every case with its rows; a bad --only or an unknown flag is refused with a hint, before
// anything starts.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const RUN = fileURLToPath(new URL('../../dist/bench/run.js', import.meta.url));
const bench = (...args: string[]) => spawnSync(process.execPath, [RUN, ...args], { encoding: 'utf8', timeout: 30_000 });

test('bench --help: the options and every case with its rows, exit 0', (t) => {
  for (const flag of ['--help', '-h']) {
    const r = bench(flag);
    t.is(r.status, 0, r.stderr);
    t.regex(r.stdout, /^usage: npm run bench/);
    for (const opt of ['--quick', '--reps', '--only', '--skip-external', '--scratch', '--out', '--keep']) t.true(r.stdout.includes(opt), opt);
    t.regex(r.stdout, /download-1to1 \(download-1to1, download-1to1-cpu, download-1to1-seed-cpu\)/);
    t.regex(r.stdout, /lookup-latency \(.*announce-cpu.*\)/);
    t.regex(r.stdout, /lan-external \(.*\) \[external\]/);
  }
});

test('bench --only with a name no case or row starts with: refused, exit 1, nothing run', (t) => {
  const r = bench('--only', 'download-1to1,nope');
  t.is(r.status, 1);
  t.regex(r.stderr, /--only nope: no case or row starts with that/);
  t.notRegex(r.stderr, /nats-server at/);
});

test('bench with an unknown flag: refused with a pointer to --help', (t) => {
  const r = bench('--bogus');
  t.is(r.status, 1);
  t.regex(r.stderr, /Unknown option '--bogus' \(npm run bench -- --help lists the options\)/);
});
