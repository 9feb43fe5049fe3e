// The peer's V8 heap settings (src/cli/daemon-heap.ts): the young generation must stay within its
// cap under a workload that grows it far past with node's defaults. Node refuses the growth factor
// on its command line and V8 only honours it at run time, so a node upgrade could make the
// setting a silent no-op: this test is what notices (each case is a child process of its own).
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { YOUNG_GENERATION_CAP_BYTES } from '../../src/cli/daemon-heap.js';

const PROBE = fileURLToPath(new URL('../helpers/young-gen-probe.ts', import.meta.url));
const MB = 1024 * 1024;

function young(...args: string[]): { start: number; largest: number } {
  const out = execFileSync(process.execPath, ['--import=tsx', PROBE, ...args], { encoding: 'utf8', timeout: 60_000 });
  return JSON.parse(out.trim()) as { start: number; largest: number };
}

const mb = (n: number) => `${(n / MB).toFixed(1)} MB`;

test('the young generation grows up to the cap and no further with the daemon settings; with the defaults past it', (t) => {
  const grown = young('default');
  t.true(grown.largest > 16 * MB, `control: with node's defaults the workload should grow the young generation past 16 MB (${mb(grown.start)} → ${mb(grown.largest)})`);
  // a cap above the size it has: it grows up to it
  const cap = 4 * grown.start;
  const capped = young('tuned', String(cap));
  t.true(capped.largest <= cap, `young generation grew from ${mb(capped.start)} to ${mb(capped.largest)}, over the cap of ${mb(cap)}`);
  t.true(capped.largest > capped.start, `below the cap it still grows (${mb(capped.start)} → ${mb(capped.largest)})`);
  // a cap at the size it has: it keeps that size
  const held = young('tuned', String(grown.start));
  t.true(held.largest <= held.start, `young generation grew from ${mb(held.start)} to ${mb(held.largest)} with a cap at its start size`);
  // the peer's own cap
  const peer = young('tuned', String(YOUNG_GENERATION_CAP_BYTES));
  t.true(peer.largest <= Math.max(peer.start, YOUNG_GENERATION_CAP_BYTES), `young generation grew from ${mb(peer.start)} to ${mb(peer.largest)} with the peer's cap of ${mb(YOUNG_GENERATION_CAP_BYTES)}`);
});
