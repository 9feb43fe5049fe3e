// The peer's V8 heap settings (src/cli/daemon-heap.ts): the young generation must stay at its
// start size under a workload that grows it with node's defaults. Node refuses the growth factor
// on its command line and V8 only honours it at run time, so a node upgrade could make the
// setting a silent no-op: this test is what notices (each case is a child process of its own).
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import test from 'ava';

const PROBE = fileURLToPath(new URL('../helpers/young-gen-probe.ts', import.meta.url));
const MB = 1024 * 1024;

function young(mode: 'tuned' | 'default'): { start: number; largest: number } {
  const out = execFileSync(process.execPath, ['--import=tsx', PROBE, mode], { encoding: 'utf8', timeout: 60_000 });
  return JSON.parse(out.trim()) as { start: number; largest: number };
}

const mb = (n: number) => `${(n / MB).toFixed(1)} MB`;

test('the young generation keeps the size it had when the daemon settings were made; with the defaults it grows', (t) => {
  const grown = young('default');
  t.true(grown.largest >= 4 * grown.start && grown.largest > 8 * MB, `control: with node's defaults the workload should grow the young generation (${mb(grown.start)} → ${mb(grown.largest)})`);
  const tuned = young('tuned');
  t.true(tuned.largest <= tuned.start, `young generation grew from ${mb(tuned.start)} to ${mb(tuned.largest)} with the daemon settings`);
});
