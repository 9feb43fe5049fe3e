// Micro-bench of the tracker's announce path, in-process, no bus: decode + validate, verify the
// signature, update the registry. Prints µs per 100-file announce for each stage and in total, so
// a profile (`node --cpu-prof --import tsx bench/micro/announce-cpu.ts`) shows where time goes.
// Run: npx tsx bench/micro/announce-cpu.ts [peers]
import { verifySignature } from '../../src/identity.js';
import { decode } from '../../src/protocol/codec.js';
import { AnnounceRequest } from '../../src/protocol/messages.js';
import { MemoryStore } from '../../src/tracker/store.js';
import { makeAnnounces, makeFiles } from '../lib/registry-load.js';

const peers = Number(process.argv[2] ?? 3000);
const subject = 'p2p.tracker.announce';
const files = makeFiles();
const announces = makeAnnounces(files).slice(0, peers);
const signed = (round: number) => announces.map((a) => ({ payload: a.payload, headers: a.identity.sign(subject, a.payload, Date.now() + round) }));

/** This process's CPU time (user + sys), µs: wall time means little on a loaded shared machine. */
function cpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

function stage(name: string, n: number, fn: (i: number) => void): number {
  const t0 = cpuUs();
  for (let i = 0; i < n; i++) fn(i);
  const us = (cpuUs() - t0) / n;
  console.log(`${name.padEnd(28)} ${us.toFixed(1).padStart(8)} µs`);
  return us;
}

async function main(): Promise<void> {
  for (let round = 0; round < 3; round++) {
    const msgs = signed(round);
    console.log(`round ${round} (${round === 0 ? 'first announces' : 're-announces'}), ${peers} peers`);
    const store = new MemoryStore();
    if (round > 0) for (let i = 0; i < peers; i++) await store.announce(decode(AnnounceRequest, msgs[i]!.payload), Date.now());
    let total = 0;
    total += stage('decode+validate', peers, (i) => void decode(AnnounceRequest, msgs[i]!.payload, 'announce'));
    total += stage('verify signature', peers, (i) => void verifySignature(subject, msgs[i]!.payload, msgs[i]!.headers));
    const decoded = msgs.map((m) => decode(AnnounceRequest, m.payload));
    const t0 = cpuUs();
    for (let i = 0; i < peers; i++) await store.announce(decoded[i]!, Date.now());
    const us = (cpuUs() - t0) / peers;
    console.log(`${'registry announce'.padEnd(28)} ${us.toFixed(1).padStart(8)} µs`);
    total += us;
    console.log(`${'total'.padEnd(28)} ${total.toFixed(1).padStart(8)} µs`);
  }
}
void main();
