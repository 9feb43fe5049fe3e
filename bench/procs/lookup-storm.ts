// A storm of tracker lookups (and, with --announce, signed announces of new peers), closed-loop
// with --concurrency requests in flight, for --ms; each request is retried like the CLI and peers
// do (3 attempts). Connects to the --nats servers in the order given (no shuffling), so a test
// knows which node it starts on. Prints `ready <server>`, then one JSON line at the end:
// { lookups, lookupFailures, firstAttemptFailures, acked: [peerIds], announceFailures, ... }.
import { parseArgs } from 'node:util';
import { connectBus, request } from '../../src/transport/bus.js';
import { subjects } from '../../src/protocol/subjects.js';
import { Ack, HeartbeatReply, LookupReply, PROTOCOL_VERSION } from '../../src/protocol/messages.js';
import { PeerIdentity } from '../../src/identity.js';

const { values } = parseArgs({
  options: {
    nats: { type: 'string' },
    prefix: { type: 'string', default: 'p2p' },
    name: { type: 'string', default: 'storm.bin' },
    ms: { type: 'string', default: '5000' },
    concurrency: { type: 'string', default: '4' },
    announce: { type: 'boolean', default: false },
    id: { type: 'string', default: 'storm' },
    timeout: { type: 'string', default: '1000' },
    /** keep the acknowledged peers alive (heartbeats every --heartbeat-ms) until SIGTERM, after the result line too */
    linger: { type: 'boolean', default: false },
    /** with --linger: each acknowledged peer heartbeats this often (a real peer: peer.heartbeatMs, a third of the tracker's ttl) */
    'heartbeat-ms': { type: 'string', default: '1000' },
    /** with --announce: at most this many announces (then lookups only), so --linger's heartbeats stay a load the tracker is meant to carry; 0: no cap */
    'max-announces': { type: 'string', default: '0' },
  },
});
const s = subjects(values.prefix!);
const nc = await connectBus({ url: values.nats!, name: 'lookup-storm', reconnect: true, extra: { noRandomize: true, reconnectTimeWait: 100 } });
process.stdout.write(`ready ${nc.getServer()}\n`);
const identity = PeerIdentity.ephemeral();
const timeoutMs = Number(values.timeout);
const stats = { lookups: 0, lookupFailures: 0, firstAttemptFailures: 0, announces: 0, announceFailures: 0, firstAttemptAnnounceFailures: 0, acked: [] as string[], errors: [] as string[] };
const deadline = Date.now() + Number(values.ms);
const maxAnnounces = Number(values['max-announces']);
const heartbeatMs = Number(values['heartbeat-ms']);
/** heartbeats in flight at once: a round of every acked peer takes well under a ttl on a loaded machine */
const HEARTBEAT_LANES = 32;
let seq = 0;

async function attempt<T>(fn: () => Promise<T>): Promise<{ value?: T; first: boolean }> {
  let firstFailed = false;
  for (let i = 0; i < 3; i++) {
    try {
      return { value: await fn(), first: firstFailed };
    } catch (err) {
      if (i === 0) firstFailed = true;
      if (stats.errors.length < 10) stats.errors.push((err as Error).message);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  return { first: firstFailed };
}

function announceOf(n: number) {
  const file = { fileId: n.toString(16).padStart(64, '0'), name: `${values.id}-${n}.bin`, size: 1, chunkSize: 1, chunkCount: 1 };
  return { v: PROTOCOL_VERSION, peerId: `${values.id}-${n}`, endpoint: { host: '10.255.255.1', port: 1 + (n % 60000) }, replace: true, files: [file], removed: [] };
}

async function worker(): Promise<void> {
  while (Date.now() < deadline) {
    const n = seq++;
    if (values.announce && n % 2 === 1 && (maxAnnounces === 0 || stats.announces < maxAnnounces)) {
      const msg = announceOf(n);
      const peerId = msg.peerId;
      stats.announces++;
      const r = await attempt(() => request(nc, s.announce, msg, Ack, { timeoutMs, who: 'tracker', sign: (subj, payload) => identity.sign(subj, payload) }));
      if (r.first) stats.firstAttemptAnnounceFailures++;
      if (r.value) stats.acked.push(peerId);
      else stats.announceFailures++;
    } else {
      stats.lookups++;
      const r = await attempt(() => request(nc, s.lookup, { v: PROTOCOL_VERSION, name: values.name! }, LookupReply, { timeoutMs, who: 'tracker' }));
      if (r.first) stats.firstAttemptFailures++;
      if (!r.value) stats.lookupFailures++;
    }
    if (n % 200 === 0) process.stdout.write(`tick ${n}\n`);
  }
}

/** Acknowledged peers heartbeat every --heartbeat-ms, like real ones (and re-announce when the tracker forgot them). */
let stopHeartbeats = false;
async function heartbeats(): Promise<void> {
  const sign = (subj: string, payload: Uint8Array) => identity.sign(subj, payload);
  while (!stopHeartbeats) {
    const started = Date.now();
    const ids = [...stats.acked];
    await Promise.all(
      Array.from({ length: HEARTBEAT_LANES }, async (_, k) => {
        for (let i = k; i < ids.length && !stopHeartbeats; i += HEARTBEAT_LANES) {
          const msg = announceOf(Number(ids[i]!.slice(ids[i]!.lastIndexOf('-') + 1)));
          const hb = { v: PROTOCOL_VERSION, peerId: msg.peerId, endpoint: msg.endpoint, fileCount: 1 };
          try {
            const r = await request(nc, s.heartbeat, hb, HeartbeatReply, { timeoutMs, who: 'tracker', sign });
            if (!r.known) await request(nc, s.announce, msg, Ack, { timeoutMs, who: 'tracker', sign });
          } catch {
            // the next round tries again
          }
        }
      }),
    );
    await new Promise((r) => setTimeout(r, Math.max(0, heartbeatMs - (Date.now() - started))));
  }
}
const beating = values.linger ? heartbeats() : Promise.resolve();
process.once('SIGTERM', () => {
  stopHeartbeats = true;
});
await Promise.all(Array.from({ length: Number(values.concurrency) }, () => worker()));
process.stdout.write(JSON.stringify({ ...stats, server: nc.getServer() }) + '\n');
await beating;
await nc.close();
