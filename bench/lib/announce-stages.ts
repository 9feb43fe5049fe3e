// The tracker's announce path, stage by stage, in this process (no bus): decode + validate,
// verify the Ed25519 signature, update the registry; CPU µs per 100-file announce for each
// stage, the minimum over batches of 100 (a GC before each stage when node runs with
// --expose-gc), so a loaded shared machine inflates it as little as possible. The tracker row
// reports it beside the tracker's own CPU, from the same run: what a target below the sum of
// the stages would need, measured rather than guessed. `atScale` is the registry over the whole
// registration (mean, GC included): the cost as the index grows to its full size.
import { verifySignature } from '../../src/identity.js';
import { decode } from '../../src/protocol/codec.js';
import { AnnounceRequest } from '../../src/protocol/messages.js';
import { MemoryStore } from '../../src/tracker/store.js';
import { makeAnnounces, makeFiles, type Announce } from './registry-load.js';

const BATCH = 100;
const SUBJECT = 'p2p.tracker.announce';

export interface AnnounceStages {
  peers: number;
  /** µs per announce, first announces (round 0) and re-announces of the same files (round 1) */
  first: { decode: number; verify: number; registry: number; total: number };
  again: { decode: number; verify: number; registry: number; total: number };
  /**
   * The registry at full size: CPU µs per first announce (all threads, so GC included) over the
   * registration of every announce given, into one fresh store, mean rather than min: what a
   * tracker pays as its index grows, which the minimum over early batches above does not see.
   */
  atScale: { peers: number; registry: number };
}

/** This process's CPU time (user + sys), µs. */
function cpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);

/** Min over batches of the CPU µs per call of `fn(i)`, i = 0 … n-1. */
async function stage(n: number, fn: (i: number) => unknown): Promise<number> {
  gc();
  let best = Infinity;
  for (let start = 0; start < n; start += BATCH) {
    const t0 = cpuUs();
    const end = Math.min(n, start + BATCH);
    for (let i = start; i < end; i++) await fn(i);
    best = Math.min(best, (cpuUs() - t0) / (end - start));
    // let the event loop breathe between batches (timers of a bench around it)
    await new Promise((r) => setImmediate(r));
  }
  return best;
}

/** Measure every stage over `peers` announces, as first announces then as re-announces. */
export async function announceStages(peers = 2000, log: (line: string) => void = () => undefined, all?: Announce[]): Promise<AnnounceStages> {
  const full = all ?? makeAnnounces(makeFiles());
  const announces = full.slice(0, peers);
  peers = announces.length;
  const rounds: AnnounceStages['first'][] = [];
  for (let round = 0; round < 2; round++) {
    const msgs = announces.map((a) => ({ payload: a.payload, headers: a.identity.sign(SUBJECT, a.payload, Date.now() + round) }));
    const store = new MemoryStore();
    if (round > 0) for (let i = 0; i < peers; i++) await store.announce(decode(AnnounceRequest, msgs[i]!.payload), Date.now());
    const decodeUs = await stage(peers, (i) => decode(AnnounceRequest, msgs[i]!.payload, 'announce'));
    const verifyUs = await stage(peers, (i) => verifySignature(SUBJECT, msgs[i]!.payload, msgs[i]!.headers));
    const decoded = msgs.map((m) => decode(AnnounceRequest, m.payload));
    const registryUs = await stage(peers, (i) => store.announce(decoded[i]!, Date.now()));
    const r = { decode: decodeUs, verify: verifyUs, registry: registryUs, total: decodeUs + verifyUs + registryUs };
    log(`${round === 0 ? 'first announces' : 're-announces'}, ${peers} peers: decode+validate ${r.decode.toFixed(1)} µs, verify ${r.verify.toFixed(1)} µs, registry ${r.registry.toFixed(1)} µs, total ${r.total.toFixed(1)} µs`);
    rounds.push(r);
  }
  const atScale = await registryAtScale(full);
  log(`registry at full size, ${atScale.peers} first announces: ${atScale.registry.toFixed(1)} µs each (mean, GC included)`);
  return { peers, first: rounds[0]!, again: rounds[1]!, atScale };
}

/** Mean CPU µs per first announce into one fresh store over all `announces` (decoded beforehand). */
async function registryAtScale(announces: Announce[]): Promise<AnnounceStages['atScale']> {
  const decoded = announces.map((a) => decode(AnnounceRequest, a.payload));
  gc();
  const store = new MemoryStore();
  const t0 = cpuUs();
  for (let i = 0; i < decoded.length; i++) await store.announce(decoded[i]!, Date.now());
  const registry = (cpuUs() - t0) / decoded.length;
  await store.stop();
  return { peers: decoded.length, registry };
}
