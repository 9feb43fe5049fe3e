// Micro-bench of the tracker's lookup reply, in-process, no bus: CPU µs per lookup by fileId in a
// registry of 10 000 peers × 100 files (every file has 10 sources, as in `lookup-latency`), the
// old path (LookupMatch objects from the registry, trimmed by estimates, msgpackr's encode)
// against the reply written straight from the registry (src/tracker/lookup-reply.ts). Decoding the
// request is the same on both and shown apart. The first 1000 replies of both paths are compared
// byte for byte before anything is timed.
// Run: node --import tsx bench/micro/lookup-cpu.ts [lookups per batch] [batches]
import { decode, encode, MAX_MESSAGE_BYTES } from '../../src/protocol/codec.js';
import { AnnounceRequest, LookupRequest, PROTOCOL_VERSION, type LookupMatch, type LookupReply } from '../../src/protocol/messages.js';
import { MemoryStore } from '../../src/tracker/store.js';
import { LookupReplyWriter } from '../../src/tracker/lookup-reply.js';
import { FILES_PER_PEER, PEERS, UNIVERSE, makeFiles } from '../lib/registry-load.js';

const BATCH = Number(process.argv[2] ?? 5000);
const BATCHES = Number(process.argv[3] ?? 30);
const MAX_SOURCES = 1000;
const cpuUs = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

const files = makeFiles();
const store = new MemoryStore();
const t0 = performance.now();
for (let i = 0; i < PEERS; i++) {
  const mine = Array.from({ length: FILES_PER_PEER }, (_, j) => files[(i * FILES_PER_PEER + j) % UNIVERSE]!);
  // through the codec, as the tracker gets them: the registry keeps the strings msgpackr made
  // (their shape, not only their text, sets what writing them costs)
  const announce = { v: PROTOCOL_VERSION, peerId: `bench-peer-${i}`, endpoint: { host: '127.0.0.1', port: 1024 + (i % 60_000) }, replace: true, files: mine, removed: [] };
  await store.announce(decode(AnnounceRequest, encode(announce)), Date.now());
}
console.log(`registry: ${PEERS} peers × ${FILES_PER_PEER} files in ${((performance.now() - t0) / 1000).toFixed(1)} s, heap ${(process.memoryUsage().heapUsed / 2 ** 20).toFixed(0)} MiB`);

const requests = Array.from({ length: 20_000 }, () => encode({ v: PROTOCOL_VERSION, fileId: files[Math.floor(Math.random() * files.length)]!.fileId }));
const ids = requests.map((r) => decode(LookupRequest, r).fileId!);

// ---- the old path, as actors/tracker.ts had it before the writer ----------------------------
const REPLY_BUDGET = MAX_MESSAGE_BYTES - 16 * 1024;
const metaBytes = (name: string) => 160 + Buffer.byteLength(name);
const sourceBytes = (peerId: string, host: string, claimedName?: string) =>
  48 + peerId.length + Buffer.byteLength(host) + (claimedName !== undefined ? 80 + Buffer.byteLength(claimedName) : 0);
function fitMatches(matches: LookupMatch[]): LookupMatch[] {
  const out: LookupMatch[] = [];
  let budget = REPLY_BUDGET;
  for (const match of matches.slice(0, 1000)) {
    let sources = match.sources;
    if (sources.length > MAX_SOURCES) {
      const seen = (peerId: string) => store.peer(peerId)?.lastSeen ?? 0;
      sources = [...sources].sort((a, b) => seen(b.peerId) - seen(a.peerId)).slice(0, MAX_SOURCES);
    }
    let size = metaBytes(match.file.name);
    const kept = [];
    for (const source of sources) {
      const cost = sourceBytes(source.peerId, source.endpoint.host, source.claims?.name);
      if (size + cost > budget) break;
      size += cost;
      kept.push(source);
    }
    if (size > budget) break;
    budget -= size;
    out.push({ file: match.file, sources: kept });
  }
  return out;
}
function oldReply(fileId: string): Uint8Array {
  const match = store.lookupById(fileId);
  const reply: LookupReply = { v: PROTOCOL_VERSION, ok: true, matches: fitMatches(match ? [match] : []) };
  return encode(reply);
}

// ---- the new path ----------------------------------------------------------------------------
const writer = new LookupReplyWriter({ maxSourcesPerMatch: MAX_SOURCES });
function newReply(fileId: string): Uint8Array {
  const file = store.fileById(fileId);
  return encode(writer.write(file ? [file] : []).reply);
}

for (let i = 0; i < 1000; i++) {
  if (!Buffer.from(oldReply(ids[i]!)).equals(Buffer.from(newReply(ids[i]!)))) throw new Error(`reply ${i} differs between the paths`);
}

/**
 * Per-batch CPU µs per call, batches interleaved between the stages so load hits them alike. No
 * forced gc() between batches (announce-stages has one): with it both paths measured alike here,
 * 11–14 µs, against 10–11 and 7–8 without, as if each forced full collection cost the next batch
 * its warm state.
 */
function measure(stages: Record<string, (i: number) => unknown>): Record<string, number[]> {
  const out: Record<string, number[]> = Object.fromEntries(Object.keys(stages).map((k) => [k, []]));
  let next = 0;
  for (let b = 0; b < BATCHES; b++) {
    for (const [name, fn] of Object.entries(stages)) {
      const start = cpuUs();
      for (let i = 0; i < BATCH; i++) fn(next + i);
      out[name]!.push((cpuUs() - start) / BATCH);
    }
    next += BATCH;
  }
  return out;
}

const at = (i: number) => i % ids.length;
const results = measure({
  decode: (i) => decode(LookupRequest, requests[at(i)]!, 'lookup'),
  old: (i) => oldReply(ids[at(i)]!),
  new: (i) => newReply(ids[at(i)]!),
});
const fmt = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return `min ${s[0]!.toFixed(1)}, median ${s[s.length >> 1]!.toFixed(1)} µs`;
};
console.log(`${BATCHES} batches of ${BATCH} lookups by fileId (10 sources each), CPU per lookup:`);
console.log(`  decode + validate the request: ${fmt(results.decode!)}`);
console.log(`  reply, old path (objects + trim + encode): ${fmt(results.old!)}`);
console.log(`  reply, written from the registry:          ${fmt(results.new!)}`);
