// Micro-bench of the tracker's announce path, in-process, no bus: decode + validate, verify the
// signature, update the registry. Prints CPU µs per 100-file announce for each stage: the
// minimum over batches of 100 announces (with a GC before each stage), so a loaded shared machine
// and collections of earlier stages inflate it as little as possible. For where time goes in a
// stage: `node --cpu-prof --import tsx bench/micro/announce-cpu.ts`.
// Run: npx tsx bench/micro/announce-cpu.ts [peers]   (node --expose-gc for the GCs)
import { verifySignature } from '../../src/identity.js';
import { decode } from '../../src/protocol/codec.js';
import { AnnounceRequest } from '../../src/protocol/messages.js';
import { MemoryStore } from '../../src/tracker/store.js';
import { makeAnnounces, makeFiles } from '../lib/registry-load.js';

const peers = Number(process.argv[2] ?? 3000);
const BATCH = 100;
const subject = 'p2p.tracker.announce';
const files = makeFiles();
const announces = makeAnnounces(files).slice(0, peers);
const signed = (round: number) => announces.map((a) => ({ payload: a.payload, headers: a.identity.sign(subject, a.payload, Date.now() + round) }));
const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);

/** This process's CPU time (user + sys), µs: wall time means little on a loaded shared machine. */
function cpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/** Min over batches of the CPU µs per call of `fn(i)`, i = 0 … n-1. */
async function stage(name: string, n: number, fn: (i: number) => unknown): Promise<number> {
  gc();
  let best = Infinity;
  for (let start = 0; start < n; start += BATCH) {
    const t0 = cpuUs();
    const end = Math.min(n, start + BATCH);
    for (let i = start; i < end; i++) await fn(i);
    best = Math.min(best, (cpuUs() - t0) / (end - start));
  }
  console.log(`${name.padEnd(28)} ${best.toFixed(1).padStart(8)} µs`);
  return best;
}

async function main(): Promise<void> {
  for (let round = 0; round < 3; round++) {
    const msgs = signed(round);
    console.log(`round ${round} (${round === 0 ? 'first announces' : 're-announces'}), ${peers} peers`);
    const store = new MemoryStore();
    if (round > 0) for (let i = 0; i < peers; i++) await store.announce(decode(AnnounceRequest, msgs[i]!.payload), Date.now());
    let total = 0;
    total += await stage('decode+validate', peers, (i) => decode(AnnounceRequest, msgs[i]!.payload, 'announce'));
    total += await stage('verify signature', peers, (i) => verifySignature(subject, msgs[i]!.payload, msgs[i]!.headers));
    const decoded = msgs.map((m) => decode(AnnounceRequest, m.payload));
    total += await stage('registry announce', peers, (i) => store.announce(decoded[i]!, Date.now()));
    console.log(`${'total'.padEnd(28)} ${total.toFixed(1).padStart(8)} µs`);
  }
}
void main();
