// Micro-bench of the swarm rules' pick for a seeder (src/download/picker-swarm.ts seederPick,
// through ChunkPicker.pick) in big swarms: a download of C chunks, a seeder and P downloading
// neighbours (all active, each holding a random share H of the chunks at the start and gaining
// more), asked in turn with the seeder (see round()). Prints µs per pick of the seeder (median of
// 5 rounds after a warm-up round), for each size.
// Run: node --import tsx bench/micro/seeder-pick.ts [chunks:neighbours:share,... default 512:7:0.3,8192:7:0.3,8192:63:0.05,8192:63:0.3]
import { ChunkPicker } from '../../src/download/picker.js';

const cases = (process.argv[2] ?? '512:7:0.3,8192:7:0.3,8192:63:0.05,8192:63:0.3').split(',').map((c) => c.split(':').map(Number) as [number, number, number]);
if (cases.some(([c, p, h]) => !(c >= 1 && c <= 1_000_000 && p >= 1 && p <= 1000 && h >= 0 && h <= 1))) {
  console.error('usage: seeder-pick.ts [chunks:neighbours:share,...] (chunks 1-1000000, neighbours 1-1000, share 0-1)');
  process.exit(2);
}

/**
 * One simulated download of 2 000 steps: each step a random neighbour gains a random chunk, we
 * take one chunk from a random neighbour, and we ask the seeder for one (each completes at once).
 * µs per seeder pick (only those are timed), and how many there were.
 */
function round(chunks: number, neighbours: number, share: number, seed: number): { us: number; picks: number } {
  let rnd = seed;
  const random = () => (rnd = (Math.imul(rnd, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const p = new ChunkPicker({ chunkCount: chunks, have: () => false, random, selfId: 'me', stallMs: 1e9, ownerActiveMs: 1e9 });
  p.addSource('seed', { kind: 'all' }, 0);
  for (let k = 0; k < neighbours; k++) {
    const bits = new Uint8Array(Math.ceil(chunks / 8));
    for (let i = 0; i < chunks; i++) if (random() < share) bits[i >> 3]! |= 1 << (i & 7);
    p.addSource(`n${k}`, { kind: 'bits', bits }, 0);
  }
  let picks = 0;
  let ns = 0n;
  for (let now = 1; now <= 2000 && p.remaining() > 0; now++) {
    const gain = Math.floor(random() * chunks);
    p.update(`n${Math.floor(random() * neighbours)}`, { kind: 'gained', ranges: [[gain, gain + 1]] }, now);
    const from = `n${Math.floor(random() * neighbours)}`;
    const near = p.pick(from, now);
    if (near !== undefined) p.completed(near, from, now);
    const t0 = process.hrtime.bigint();
    const index = p.pick('seed', now);
    ns += process.hrtime.bigint() - t0;
    picks++;
    if (index !== undefined) p.completed(index, 'seed', now);
  }
  return { us: Number(ns) / 1000 / picks, picks };
}

console.log('chunks | neighbours | share held by each | picks | µs per pick (median of 5)');
for (const [chunks, neighbours, share] of cases) {
  round(chunks, neighbours, share, 1); // warm-up
  const runs = [2, 3, 4, 5, 6].map((s) => round(chunks, neighbours, share, s));
  const us = runs.map((r) => r.us).sort((a, b) => a - b)[2]!;
  console.log(`${String(chunks).padStart(6)} | ${String(neighbours).padStart(10)} | ${share.toFixed(2).padStart(18)} | ${String(runs[2]!.picks).padStart(5)} | ${us.toFixed(1).padStart(8)}`);
}
