// Child program of test/unit/daemon-heap.test.ts: a workload whose objects keep surviving
// scavenges (as a peer's requests in flight do), run with the peer's heap settings (`tuned CAP`) or
// node's defaults; prints the young generation's size at the start and the largest it reached, in
// bytes.
import { getHeapSpaceStatistics } from 'node:v8';
import { tuneHeapForDaemon } from '../../src/cli/daemon-heap.js';

const youngBytes = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!.space_size;
const cap = Number(process.argv[3] ?? 0);
if (process.argv[2] === 'tuned') tuneHeapForDaemon(cap);
const start = youngBytes();
let live: Array<{ i: number; pair: number[]; name: string }> = [];
let largest = youngBytes();
for (let i = 0; i < 2_000_000; i++) {
  if (i % 5_000 === 0) await new Promise((resolve) => setImmediate(resolve)); // turns of the event loop, as a daemon has: GC observers run
  live.push({ i, pair: [i, i + 1], name: `x${i}` });
  if (live.length > 2000) live = live.slice(1000); // the older half dies, the rest survives a while
  if (i % 10_000 === 0) largest = Math.max(largest, youngBytes());
}
process.stdout.write(`${JSON.stringify({ start, largest, kept: live.length })}\n`);
