// tracker-mem and tracker-kv-1/2/3: the same synthetic registry (peers × 100 files, announced
// signed) held by one tracker on the memory store, then by 1, 2 and 3 `p2p tracker --store kv`
// instances on one JetStream bucket (a nats-server with JetStream of this case's own). For each:
// lookup p99 at a fixed offered rate against a bare NATS echo measured in the same slices,
// announces/s closed-loop, and the trackers' peak RSS (summed over instances).
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { procScript, type BenchCase, type BenchContext } from '../lib/context.js';
import { interleaved, openLoop } from '../lib/load.js';
import { findNatsServer } from '../lib/nats.js';
import { benchConnection, CLI } from '../lib/p2p.js';
import { cpuSeconds, sampleRss, sumOver } from '../lib/procfs.js';
import { spawnProc, type Proc } from '../lib/procs.js';
import { Requester } from '../lib/requester.js';
import { announceSender, echoSender, heartbeatSender, lookupSender, makeAnnounces, makeFiles, registerAll, type Announce } from '../lib/registry-load.js';
import { ratioOf, type CaseResult } from '../lib/report.js';
import { withScope, type Scope } from '../lib/scope.js';
import { latencySummary, MB, round } from '../lib/stats.js';
import { subjects } from '../../src/protocol/subjects.js';
import { bucketFor } from '../../src/tracker/kv-store.js';
import type { NatsConnection } from 'nats';

const LOOKUP_RATE = 2000;
const SLICE_MS = 250;
const ANNOUNCE_CONCURRENCY = 32;

/** A nats-server with JetStream for this case (the run's shared one has none). */
async function jetstreamServer(scope: Scope, dir: string): Promise<{ url: string; pid: number }> {
  const bin = findNatsServer();
  if (!bin) throw new Error('nats-server is not installed');
  const proc = spawnProc(scope, bin, ['-a', '127.0.0.1', '-p', '-1', '-js', '-sd', dir], { label: 'nats-js' });
  const line = await proc.waitFor(/Listening for client connections on [\d.]+:\d+/, 10_000);
  return { url: `nats://127.0.0.1:${/:(\d+)\s*$/.exec(line)![1]}`, pid: proc.pid };
}

/** Closed loop: `concurrency` announces in flight for `ms`; announces/s acknowledged. */
async function announceRate(send: (i: number) => Promise<unknown>, ms: number): Promise<{ rate: number; errors: number; count: number }> {
  const started = performance.now();
  let i = 0;
  let ok = 0;
  let errors = 0;
  await Promise.all(
    Array.from({ length: ANNOUNCE_CONCURRENCY }, async () => {
      while (performance.now() - started < ms) {
        try {
          await send(i++);
          ok++;
        } catch {
          errors++;
        }
      }
    }),
  );
  return { rate: ok / ((performance.now() - started) / 1000), errors, count: ok };
}

interface Measured {
  name: string;
  instances: number;
  lookupP99: number;
  echoP99: number;
  lookupP50: number;
  errors: number;
  announceRate: number;
  rssMB: number | null;
  registerSeconds: number;
  heartbeat: HeartbeatLoad;
}

/** Closed-loop heartbeats: what a tracker's steady state costs it and the broker. */
interface HeartbeatLoad {
  rate: number;
  errors: number;
  /** the trackers' CPU (summed over instances) per heartbeat, µs */
  trackerCpuUs: number | null;
  /** the broker's CPU per heartbeat, µs */
  brokerCpuUs: number | null;
  /** bytes the KV stream took in per heartbeat (its stored bytes count only the newest values) */
  streamBytes: number | null;
}

const sumCpu = (pids: number[]): number | undefined => sumOver(pids, cpuSeconds);

async function measureSetup(ctx: BenchContext, broker: { url: string; pid: number }, name: string, instances: number, store: 'memory' | 'kv', announces: Announce[], files: ReturnType<typeof makeFiles>): Promise<Measured> {
  const url = broker.url;
  return withScope(ctx.scope, async (scope) => {
    const prefix = `bench-${name}-${process.pid}`;
    const s = subjects(prefix);
    const trackers: Proc[] = [];
    for (let k = 0; k < instances; k++) {
      const dir = join(ctx.work, `${name}-${k}`);
      await mkdir(dir, { recursive: true });
      const args = [CLI, 'tracker', '--nats', url, '--prefix', prefix, '--store', store, '--log-file', join(dir, 'tracker.jsonl')];
      const p = spawnProc(scope, process.execPath, args, { env: { P2P_TRACKER_TTL_MS: '86400000', P2P_LOG_LEVEL: 'info' }, label: `${name}-${k}` });
      await p.waitFor(/tracker ready/, 60_000);
      trackers.push(p);
    }
    const echoSubject = `${prefix}.bench.echo`;
    const echo = spawnProc(scope, process.execPath, [procScript('echo-responder'), '--nats', url, '--subject', echoSubject], { label: 'echo' });
    await echo.waitFor(/ready/, 10_000);
    const nc = await benchConnection(scope, url, `bench-${name}`);
    const rq = new Requester(nc, scope);
    const rss = trackers.map((t) => sampleRss(t.pid, 200));
    const registerMs = await registerAll(rq, s.announce, announces, 64);
    // the other instances' views catch up through their watches: give them a moment
    await new Promise((r) => setTimeout(r, 1000));
    const windowMs = ctx.opts.quick ? 2000 : 6000;
    await openLoop(LOOKUP_RATE, 500, lookupSender(rq, s.lookup, files));
    const [l, e] = await interleaved(LOOKUP_RATE, windowMs, SLICE_MS, lookupSender(rq, s.lookup, files), echoSender(rq, echoSubject, files));
    const ann = await announceRate(announceSender(rq, s.announce, announces), ctx.opts.quick ? 2000 : 5000);
    const heartbeat = await heartbeatLoad(nc, trackers, broker.pid, store === 'kv' ? prefix : undefined, heartbeatSender(rq, s.heartbeat, announces), ctx.opts.quick ? 2000 : 5000);
    const peaks = rss.map((r) => r.stop());
    const lookup = latencySummary(l.latencies);
    const m: Measured = {
      name,
      instances,
      lookupP99: lookup.p99,
      lookupP50: lookup.p50,
      echoP99: latencySummary(e.latencies).p99,
      errors: l.errors + e.errors + ann.errors,
      announceRate: ann.rate,
      rssMB: peaks.every((p) => p !== undefined) ? Math.round(peaks.reduce((a, p) => a + p!, 0) / MB) : null,
      registerSeconds: registerMs / 1000,
      heartbeat,
    };
    ctx.log(`${name}: lookup p99 ${m.lookupP99.toFixed(2)} ms (echo ${m.echoP99.toFixed(2)}), ${m.announceRate.toFixed(0)} announces/s, RSS ${m.rssMB} MB, ${m.errors} errors; ${heartbeatText(heartbeat)}`);
    return m;
  });
}

/**
 * The KV stream's last sequence and the size of its newest message, subject and payload (with
 * history 1 the stream's stored bytes stay flat however much is written). Undefined: no stream.
 */
async function streamState(nc: NatsConnection, prefix: string): Promise<{ seq: number; lastBytes: number } | undefined> {
  try {
    const jsm = await nc.jetstreamManager();
    const stream = `KV_${bucketFor(prefix)}`;
    const { state } = await jsm.streams.info(stream);
    const last = await jsm.streams.getMessage(stream, { seq: state.last_seq });
    return { seq: state.last_seq, lastBytes: last.subject.length + last.data.length };
  } catch {
    return undefined;
  }
}

async function heartbeatLoad(nc: NatsConnection, trackers: Proc[], brokerPid: number, kvPrefix: string | undefined, send: (i: number) => Promise<void>, ms: number): Promise<HeartbeatLoad> {
  const pids = trackers.map((t) => t.pid);
  const t0 = sumCpu(pids);
  const b0 = cpuSeconds(brokerPid);
  const s0 = kvPrefix ? await streamState(nc, kvPrefix) : undefined;
  const { rate, errors, count } = await announceRate(send, ms);
  const t1 = sumCpu(pids);
  const b1 = cpuSeconds(brokerPid);
  const s1 = kvPrefix ? await streamState(nc, kvPrefix) : undefined;
  const per = (a: number | undefined, b: number | undefined, scale: number) => (a === undefined || b === undefined || count === 0 ? null : ((b - a) * scale) / count);
  // messages the stream took in per heartbeat × the size of the last one (a heartbeat's write)
  const streamBytes = s0 && s1 ? per(s0.seq, s1.seq, s1.lastBytes) : null;
  return { rate, errors, trackerCpuUs: per(t0, t1, 1e6), brokerCpuUs: per(b0, b1, 1e6), streamBytes };
}

function heartbeatText(h: HeartbeatLoad): string {
  const us = (v: number | null) => (v === null ? '?' : v.toFixed(0));
  return `${Math.round(h.rate)} heartbeats/s, tracker(s) ${us(h.trackerCpuUs)} µs and broker ${us(h.brokerCpuUs)} µs CPU each${h.streamBytes === null ? '' : `, ${Math.round(h.streamBytes)} bytes into the KV stream each`}`;
}

const NAMES = ['tracker-mem', 'tracker-kv-1', 'tracker-kv-2', 'tracker-kv-3'];

export const trackerKv: BenchCase = {
  name: 'tracker-kv',
  rows: NAMES,
  timeoutMs: (o) => (o.quick ? 300_000 : 1_200_000),
  async run(ctx): Promise<CaseResult[]> {
    return withScope(ctx.scope, async (scope) => {
      const dir = join(ctx.work, 'nats-js');
      await mkdir(dir, { recursive: true });
      const url = await jetstreamServer(scope, dir);
      const peers = ctx.opts.quick ? 2000 : 10_000;
      const files = makeFiles();
      const announces = makeAnnounces(files).slice(0, peers);
      const results: Measured[] = [];
      results.push(await measureSetup(ctx, url, 'tracker-mem', 1, 'memory', announces, files));
      for (const n of [1, 2, 3]) results.push(await measureSetup(ctx, url, `tracker-kv-${n}`, n, 'kv', announces, files));
      const mem = results[0]!;
      return results.map((m) => ({
        name: m.name,
        value: m.lookupP99,
        unit: 'ms p99',
        baseline: m.echoP99,
        baselineOf: 'NATS echo p99',
        ratio: ratioOf(m.lookupP99, m.echoP99),
        target: null,
        pass: null,
        runs: [m.lookupP99],
        detail: {
          instances: m.instances,
          store: m.name === 'tracker-mem' ? 'memory' : 'kv',
          peers,
          filesPerPeer: 100,
          lookupsPerSecond: LOOKUP_RATE,
          lookupP50: round(m.lookupP50),
          announcesPerSecond: Math.round(m.announceRate),
          announceRateVsMemory: round(m.announceRate / mem.announceRate),
          trackersPeakRssMB: m.rssMB,
          registerSeconds: round(m.registerSeconds, 1),
          heartbeatsPerSecond: Math.round(m.heartbeat.rate),
          heartbeatTrackerCpuUs: m.heartbeat.trackerCpuUs === null ? null : round(m.heartbeat.trackerCpuUs, 1),
          heartbeatBrokerCpuUs: m.heartbeat.brokerCpuUs === null ? null : round(m.heartbeat.brokerCpuUs, 1),
          heartbeatStreamBytes: m.heartbeat.streamBytes === null ? null : Math.round(m.heartbeat.streamBytes),
          heartbeatErrors: m.heartbeat.errors,
          errors: m.errors,
        },
        note: `${m.instances} instance(s), ${peers} peers × 100 files; ${Math.round(m.announceRate)} announces/s (${(m.announceRate / mem.announceRate).toFixed(2)}× memory); RSS ${m.rssMB ?? '?'} MB; ${m.errors} errors; ${heartbeatText(m.heartbeat)}`,
      }));
    });
  },
};
