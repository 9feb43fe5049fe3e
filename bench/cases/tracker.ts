// lookup-latency, announce-cpu and announce-rate: a `p2p tracker` child holding 10 000 peers ×
// 100 files, lookups offered open-loop at 5 000/s against a bare NATS echo responder at the same
// rate, the two interleaved request by request (target: p99 ≤ 1.5 × the echo's); the tracker's CPU per 100-file announce while
// they register (target ≤ 150 µs); then announces stepped up until the lookup p99 doubles
// (target ≥ 1 000/s).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { procScript, type BenchCase, type BenchContext } from '../lib/context.js';
import { interleaved, openLoop, openLoopMixed, tailBursts, type LoadResult, type TailBursts } from '../lib/load.js';
import { benchConnection, startTracker, type Swarm } from '../lib/p2p.js';
import { spawnProc } from '../lib/procs.js';
import { Requester } from '../lib/requester.js';
import { announceSender, type AnnounceSender, echoSender, lookupSender, makeAnnounces, makeFiles, registerAll, PEERS, FILES_PER_PEER } from '../lib/registry-load.js';
import { judge, ratioOf, type CaseResult } from '../lib/report.js';
import { announceStages, type AnnounceStages } from '../lib/announce-stages.js';
import { cpuSeconds, sampleRss } from '../lib/procfs.js';
import { withScope } from '../lib/scope.js';
import { latencySummary, MB, median, round } from '../lib/stats.js';
import { subjects } from '../../src/protocol/subjects.js';

const LOOKUP_RATE = 5000;
/** with BENCH_LATENCY_SLICES=1, lookups and echoes alternate in slices this long */
const SLICE_MS = 250;
const SLICES = process.env.BENCH_LATENCY_SLICES === '1';
/** lookups/s kept up while announces are stepped up */
const PROBE_RATE = 1000;
const ANNOUNCE_STEPS = [50, 100, 200, 400, 800, 1600, 3200, 6400];
/** lookup p99 / echo p99 (issue 12; was 2) */
const LATENCY_TARGET = 1.5;
/** tracker CPU µs per 100-file announce */
const ANNOUNCE_CPU_TARGET_US = 150;
/** announces/s absorbed with the lookup p99 held */
const ANNOUNCE_RATE_TARGET = 1000;

type Sender = (i: number) => Promise<unknown>;

interface GcSummary {
  pauses: number;
  perSecond: number;
  medianMs: number;
  maxMs: number;
  /** share of the window the tracker stood still for its GC */
  pausedPct: number;
}

function gcSummary(ms: number[], windowMs: number): GcSummary {
  const sum = ms.reduce((a, b) => a + b, 0);
  return { pauses: ms.length, perSecond: round(ms.length / (windowMs / 1000), 1)!, medianMs: round(median(ms), 2)!, maxMs: round(Math.max(0, ...ms), 2)!, pausedPct: round((100 * sum) / windowMs, 2)! };
}

/** Stage costs to one decimal, for the row's detail. */
function roundStages(st: AnnounceStages): AnnounceStages {
  const one = (v: number) => Math.round(v * 10) / 10;
  const r = (x: AnnounceStages['first']) => ({ decode: one(x.decode), verify: one(x.verify), registry: one(x.registry), total: one(x.total) });
  return { peers: st.peers, first: r(st.first), again: r(st.again) };
}

/**
 * Why a missed rate falls short, from this run's own figures: the tracker's busy share of one
 * core at the target (re-announces at their measured CPU plus the probe's lookups), and how much
 * of a re-announce is the signature check in process.
 */
function rateBudget(reannounceUs: number | null, lookupUs: number, verifyUs: number, best: number): string {
  if (reannounceUs === null || best >= ANNOUNCE_RATE_TARGET) return '';
  const busy = (ANNOUNCE_RATE_TARGET * reannounceUs + PROBE_RATE * (Number.isFinite(lookupUs) ? lookupUs : 0)) / 1e6;
  return `. At ${ANNOUNCE_RATE_TARGET}/s the tracker would be busy ${(100 * busy).toFixed(0)} % of a core (${reannounceUs.toFixed(0)} µs per re-announce, of which Ed25519 verify ≈ ${verifyUs.toFixed(0)} µs in process, + ${PROBE_RATE} lookups/s) on a 2-core machine it shares with the bench, nats-server and the echo; each step's detail has the probe's p99, the bench's own event-loop delay and where the slow answers sit in time (bursts: stalls)`;
}

function dumpWindow(dir: string, run: number, lookups: LoadResult, echoes: LoadResult, gc: Array<{ at: number; ms: number; kind: string }>): void {
  mkdirSync(dir, { recursive: true });
  const pairs = (r: LoadResult) => r.dues.map((d, k) => [round(d, 3), round(r.latencies[k]!, 3)]);
  writeFileSync(join(dir, `lookup-latency-${run + 1}.json`), JSON.stringify({ lookups: pairs(lookups), echoes: pairs(echoes), gc }));
}

function tailText(t: { lookups: TailBursts; echoes: TailBursts } | undefined): string {
  const one = (b: TailBursts) => `${b.inBurstsPct} % in ${b.bursts} bursts (longest ${b.longestMs} ms)`;
  return t ? `answers ≥ p99: lookups ${one(t.lookups)}, echoes ${one(t.echoes)}` : '';
}

function gcText(g: GcSummary | undefined): string {
  return g ? `${g.pauses} pauses (${g.perSecond}/s), median ${g.medianMs} ms, max ${g.maxMs} ms, ${g.pausedPct} % of the time` : '?';
}

/** Half a second of warm-up, then the measured window. */
async function measure(rate: number, ms: number, send: Sender): Promise<LoadResult> {
  await openLoop(rate, 500, send);
  return openLoop(rate, ms, send);
}

interface Step {
  offered: number;
  absorbed: number;
  p99: number;
  errors: number;
  good: boolean;
  /** p99 of the bench process's event-loop delay during the step, ms */
  benchLoopP99: number;
  /** its longest delay, ms */
  benchLoopMax: number;
  /** the tracker's GC pauses during the step (--trace-gc) */
  trackerGc: { pauses: number; maxMs: number; totalMs: number };
  /** where the probe's slowest 1 % sits in time */
  tail: TailBursts;
}

/** One announce step: announces at `rate`/s with the lookup probe running beside them. */
type Pauses = ReadonlyArray<{ at: number; ms: number }>;

async function announceStep(rate: number, ms: number, announce: AnnounceSender, probe: Sender, limitP99: number, gc: Pauses): Promise<Step> {
  announce.prepare(Math.max(1, Math.round((rate * ms) / 1000)));
  const t0 = performance.now();
  // the bench process sends, signs and times everything: how late its own event loop ran
  const loop = monitorEventLoopDelay({ resolution: 1 });
  loop.enable();
  const [a, p] = await Promise.all([openLoop(rate, ms, announce), openLoop(PROBE_RATE, ms, probe)]);
  loop.disable();
  const benchLoopP99 = round(loop.percentile(99) / 1e6, 2)!;
  const benchLoopMax = round(loop.max / 1e6, 2)!;
  const paused = gc.filter((g) => g.at >= t0).map((g) => g.ms);
  const trackerGc = { pauses: paused.length, maxMs: round(Math.max(0, ...paused), 2)!, totalMs: round(paused.reduce((x, y) => x + y, 0), 1)! };
  const absorbed = a.ok / (Math.max(ms, a.elapsedMs) / 1000);
  const p99 = latencySummary(p.latencies).p99;
  const errors = a.errors + p.errors;
  const good = errors === 0 && p99 <= limitP99 && absorbed >= 0.95 * rate;
  return { offered: rate, absorbed, p99, errors, good, benchLoopP99, benchLoopMax, trackerGc, tail: tailBursts(p, p99) };
}

/**
 * A step that fails is run once more before it counts as failed: one stall of the shared machine
 * (tens of ms, see lookup-latency's tailBursts) sets a 4 s window's p99 by itself, and failed a
 * step of 100 announces/s, 2 % of the tracker's time, with a p99 of 27 ms between two of 3 ms. An
 * overload fails both times. Both attempts are kept in the row's detail.
 */
async function confirmedStep(rate: number, ms: number, announce: AnnounceSender, probe: Sender, limitP99: number, gc: Pauses, steps: Step[]): Promise<Step> {
  const first = await announceStep(rate, ms, announce, probe, limitP99, gc);
  steps.push(first);
  if (first.good) return first;
  const again = await announceStep(rate, ms, announce, probe, limitP99, gc);
  steps.push(again);
  return again;
}

/** Step announces up (doubling, then bisecting once or twice); the best rate whose p99 held. */
async function announceRate(ctx: BenchContext, ms: number, announce: AnnounceSender, probe: Sender, gc: Pauses): Promise<{ best: number; baseP99: number; steps: Step[] }> {
  // a longer window for the reference p99 than for each step: everything is judged against it
  const base = await measure(PROBE_RATE, 2 * ms, probe);
  const baseP99 = latencySummary(base.latencies).p99;
  const steps: Step[] = [];
  let good: Step | undefined;
  let bad: Step | undefined;
  for (const rate of ANNOUNCE_STEPS) {
    const step = await confirmedStep(rate, ms, announce, probe, 2 * baseP99, gc, steps);
    if (!step.good) {
      bad = step;
      break;
    }
    good = step;
  }
  for (let b = 0; bad && b < (ctx.opts.quick ? 1 : 2); b++) {
    const low = good?.offered ?? 0;
    const rate = Math.round((low + bad.offered) / 2);
    if (rate <= low || rate >= bad.offered) break;
    const step = await confirmedStep(rate, ms, announce, probe, 2 * baseP99, gc, steps);
    if (step.good) good = step;
    else bad = step;
  }
  // the rate of the best step that held: every announce answered, ≥ 95 % within its window, the
  // probe's p99 kept (`absorbed`, answers over the window until the last answer, counts the last
  // answer's latency as lost time: 996/s for a 1 000/s step all of whose 4 000 announces were answered)
  return { best: good ? good.offered : 0, baseP99, steps };
}

export const trackerLoad: BenchCase = {
  name: 'lookup-latency',
  rows: ['lookup-latency', 'announce-cpu', 'announce-rate'],
  async run(ctx) {
    const windowMs = ctx.opts.quick ? 2000 : 10_000;
    const stepMs = ctx.opts.quick ? 1000 : 4000;
    const swarm: Swarm = { natsUrl: ctx.nats.url, prefix: `bench-tr-${process.pid}` };
    const s = subjects(swarm.prefix);
    return withScope(ctx.scope, async (scope) => {
      const files = makeFiles();
      const announces = makeAnnounces(files);
      // the tracker's GC pauses (--trace-gc), by arrival time: what the lookups' tail waits on
      const gcPauses: Array<{ at: number; ms: number; kind: string }> = [];
      const onGcLine = (line: string) => {
        const m = /: (Scavenge|Mark-Compact|Mark-sweep)\b.*?MB, ([\d.]+) \/ [\d.]+ ms/.exec(line);
        if (m) gcPauses.push({ at: performance.now(), ms: Number(m[2]), kind: m[1]! });
      };
      const tracker = await startTracker(scope, swarm, join(ctx.work, 'tracker-load'), { P2P_TRACKER_TTL_MS: '86400000' }, ['--trace-gc'], onGcLine);
      const echoSubject = `${swarm.prefix}.bench.echo`;
      const echo = spawnProc(scope, process.execPath, [procScript('echo-responder'), '--nats', ctx.nats.url, '--subject', echoSubject], { label: 'echo' });
      await echo.waitFor(/ready/, 10_000);
      const nc = await benchConnection(scope, ctx.nats.url, 'bench-load');
      const rq = new Requester(nc, scope);
      const rss = sampleRss(tracker.pid, 200);
      const cpu0 = cpuSeconds(tracker.pid);
      const registerMs = await registerAll(rq, s.announce, announces);
      const cpu1 = cpuSeconds(tracker.pid);
      // tracker CPU per message: where its time goes (the echo slices cost it nothing)
      const perAnnounceUs = cpu0 !== undefined && cpu1 !== undefined ? ((cpu1 - cpu0) / PEERS) * 1e6 : null;
      // the same announces again (freshly signed): what a tracker's hello or a heartbeat's
      // `known: false` brings, and what announce-rate steps send; no index changes then
      const cpu2 = cpuSeconds(tracker.pid);
      const reregisterMs = await registerAll(rq, s.announce, announces);
      const cpu3 = cpuSeconds(tracker.pid);
      const perReannounceUs = cpu2 !== undefined && cpu3 !== undefined ? ((cpu3 - cpu2) / PEERS) * 1e6 : null;
      const perLookupUs: number[] = [];
      const perEchoUs: number[] = [];
      const gcWindows: GcSummary[] = [];
      const tails: Array<{ lookups: TailBursts; echoes: TailBursts }> = [];
      ctx.log(`re-announced ${PEERS} peers in ${(reregisterMs / 1000).toFixed(1)} s: ${perReannounceUs?.toFixed(0) ?? '?'} µs CPU each`);
      ctx.log(`registered ${PEERS} peers × ${FILES_PER_PEER} files in ${(registerMs / 1000).toFixed(1)} s`);

      const lookup = lookupSender(rq, s.lookup, files);
      const echoSend = echoSender(rq, echoSubject, files);
      const announce = announceSender(rq, s.announce, announces);
      const reps: Array<{ echo: ReturnType<typeof latencySummary>; lookup: ReturnType<typeof latencySummary>; errors: number; samples: string[] }> = [];
      const rates: Array<{ best: number; baseP99: number; steps: Step[] }> = [];
      for (let i = 0; i < ctx.opts.reps; i++) {
        await openLoop(LOOKUP_RATE, 500, lookup); // warm-up
        const before = cpuSeconds(tracker.pid);
        const echoBefore = cpuSeconds(echo.pid);
        const windowStart = performance.now();
        // lookups and echoes request by request, so every stall of the machine lands on both alike
        // (BENCH_LATENCY_SLICES=1: the earlier 250 ms slices, which let a stall hit one side only)
        const [l, e] = SLICES
          ? await interleaved(LOOKUP_RATE, windowMs, SLICE_MS, lookup, echoSend)
          : ((await openLoopMixed(LOOKUP_RATE, windowMs / 2, [lookup, echoSend])) as [LoadResult, LoadResult]);
        const after = cpuSeconds(tracker.pid);
        const echoAfter = cpuSeconds(echo.pid);
        const inWindow = gcPauses.filter((g) => g.at >= windowStart).map((g) => g.ms);
        gcWindows.push(gcSummary(inWindow, performance.now() - windowStart));
        if (before !== undefined && after !== undefined && l.ok > 0) perLookupUs.push(((after - before) / l.ok) * 1e6);
        // the echo responder's CPU per answer: the bus client's own share, which a lookup pays too
        if (echoBefore !== undefined && echoAfter !== undefined && e.ok > 0) perEchoUs.push(((echoAfter - echoBefore) / e.ok) * 1e6);
        // BENCH_LATENCY_DUMP=DIR: every answer's due time and latency, and the tracker's GC pauses
        if (process.env.BENCH_LATENCY_DUMP) dumpWindow(process.env.BENCH_LATENCY_DUMP, i, l, e, gcPauses.filter((g) => g.at >= windowStart));
        const rep = { echo: latencySummary(e.latencies), lookup: latencySummary(l.latencies), errors: e.errors + l.errors, samples: [...e.errorSamples, ...l.errorSamples] };
        // where each side's slowest 1 % sits in time: in a few bursts (stalls) or spread out
        tails.push({ lookups: tailBursts(l, rep.lookup.p99), echoes: tailBursts(e, rep.echo.p99) });
        reps.push(rep);
        ctx.log(`lookup-latency run ${i + 1}: lookup p50 ${rep.lookup.p50.toFixed(2)} p99 ${rep.lookup.p99.toFixed(2)} ms; echo p50 ${rep.echo.p50.toFixed(2)} p99 ${rep.echo.p99.toFixed(2)} ms; ${rep.errors} errors`);
      }
      for (let i = 0; i < ctx.opts.reps; i++) {
        const r = await announceRate(ctx, stepMs, announce, lookup, gcPauses);
        rates.push(r);
        ctx.log(`announce-rate run ${i + 1}: ${r.best.toFixed(0)}/s (probe p99 ${r.baseP99.toFixed(2)} ms; steps ${r.steps.map((st) => `${st.offered}${st.good ? '✓' : '✗'}`).join(' ')})`);
      }
      const peakRss = rss.stop();
      // the same stages in this process, for the rows' explanation (no bus, hot caches: a floor)
      const stages = await announceStages(ctx.opts.quick ? 1000 : 3000, ctx.log, announces);

      const p99 = median(reps.map((r) => r.lookup.p99));
      const echoP99 = median(reps.map((r) => r.echo.p99));
      const errors = reps.reduce((n, r) => n + r.errors, 0);
      const ratio = ratioOf(p99, echoP99);
      const ratioPass = judge(ratio, LATENCY_TARGET, 'atMost');
      const latencyRow: CaseResult = {
        name: 'lookup-latency',
        value: p99,
        unit: 'ms p99',
        baseline: echoP99,
        baselineOf: 'NATS echo p99',
        ratio,
        target: LATENCY_TARGET,
        direction: 'atMost',
        pass: ratioPass === null ? null : ratioPass && errors === 0,
        runs: reps.map((r) => r.lookup.p99),
        detail: {
          offeredPerSecond: LOOKUP_RATE,
          design: SLICES ? `alternating ${SLICE_MS} ms slices of lookups and echoes` : 'lookups and echoes interleaved request by request, each at the offered rate',
          windowSeconds: (SLICES ? windowMs : windowMs / 2) / 1000,
          lookupP50: median(reps.map((r) => r.lookup.p50)),
          echoP50: median(reps.map((r) => r.echo.p50)),
          echoP99Runs: reps.map((r) => round(r.echo.p99)),
          errors,
          errorSamples: reps.flatMap((r) => r.samples).slice(0, 5),
          registerSeconds: registerMs / 1000,
          trackerCpuPerLookupUs: round(median(perLookupUs), 1),
          echoCpuPerAnswerUs: round(median(perEchoUs), 1),
          trackerGcPauses: gcWindows,
          tailBursts: tails,
          trackerCpuPerAnnounceUs: round(perAnnounceUs, 1),
          trackerPeakRssMB: peakRss ? Math.round(peakRss / MB) : null,
        },
        note: `p50 ${median(reps.map((r) => r.lookup.p50)).toFixed(2)} ms vs echo ${median(reps.map((r) => r.echo.p50)).toFixed(2)} ms; ${errors} errors; tracker CPU ${median(perLookupUs).toFixed(0)} µs/lookup (echo ${median(perEchoUs).toFixed(0)} µs/answer); tracker GC in the window: ${gcText(gcWindows[0])}; ${tailText(tails[0])}; ${perAnnounceUs?.toFixed(0) ?? '?'} µs/announce`,
      };
      const cpuRow: CaseResult = {
        name: 'announce-cpu',
        value: round(perAnnounceUs, 1),
        unit: 'µs CPU per 100-file announce',
        baseline: null,
        ratio: null,
        target: ANNOUNCE_CPU_TARGET_US,
        direction: 'atMost',
        pass: judge(perAnnounceUs, ANNOUNCE_CPU_TARGET_US, 'atMost'),
        runs: perAnnounceUs === null ? [] : [perAnnounceUs],
        detail: {
          peers: PEERS,
          filesPerAnnounce: FILES_PER_PEER,
          registerSeconds: registerMs / 1000,
          source: '/proc/<tracker>/stat utime+stime over the registration of every peer (first announces, signed)',
          reannounceCpuUs: round(perReannounceUs, 1),
          reannounceSeconds: reregisterMs / 1000,
          inProcessStagesUs: roundStages(stages),
        },
        note:
          `tracker user+sys CPU over ${PEERS} first announces of ${FILES_PER_PEER} files each, signed (re-announces of the same files: ${perReannounceUs?.toFixed(0) ?? '?'} µs). ` +
          `Floor, in process, same run: Ed25519 verify ${stages.first.verify.toFixed(0)} µs + decode+validate ${stages.first.decode.toFixed(0)} + registry ${stages.first.registry.toFixed(0)} = ${stages.first.total.toFixed(0)} µs` +
          (stages.first.verify > ANNOUNCE_CPU_TARGET_US ? `: the signature check alone is over ${ANNOUNCE_CPU_TARGET_US} µs on this CPU` : ''),
      };
      const bestRate = median(rates.map((r) => r.best));
      const rateRow: CaseResult = {
        name: 'announce-rate',
        value: bestRate,
        unit: 'announces/s',
        baseline: null,
        ratio: null,
        target: ANNOUNCE_RATE_TARGET,
        direction: 'atLeast',
        pass: judge(bestRate, ANNOUNCE_RATE_TARGET, 'atLeast'),
        runs: rates.map((r) => r.best),
        detail: {
          filesPerAnnounce: FILES_PER_PEER,
          probeLookupsPerSecond: PROBE_RATE,
          stepSeconds: stepMs / 1000,
          runs: rates.map((r) => ({ probeP99: round(r.baseP99), steps: r.steps.map((st) => ({ ...st, absorbed: Math.round(st.absorbed), p99: round(st.p99) })) })),
        },
        note:
          `100 files each, while ${PROBE_RATE} lookups/s keep p99 ≤ 2× its p99 without announces (steps ${ANNOUNCE_STEPS[0]}, ${ANNOUNCE_STEPS[1]}, … ×2, then bisected; a failed step is run again before it counts)` +
          rateBudget(perReannounceUs, median(perLookupUs), stages.again.verify, bestRate),
      };
      return [latencyRow, cpuRow, rateRow];
    });
  },
};
