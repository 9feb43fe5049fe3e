// BENCH_LAN_TRACE=DIR: while a lab run goes, every 250 ms, each host's link bytes both ways (its
// port on the lab's switch: rx = the host's upload, tx = its download) and the machine's CPU
// split (/proc/stat), written as JSON lines to DIR/<name>.jsonl, with a one-line summary: how
// long the seeder's uplink stayed busy, how long the last 10 % of the bytes took, CPU idle and
// softirq; and every downloader's chunk requests from its peer's debug log (saveRequestTrace).
// A measuring aid (bench/README.md "The swarm targets"), off unless the variable is set.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Lan } from './lan.js';
import { cpuShares, machineJiffies } from './procfs.js';
import { quantileSorted } from './stats.js';

interface Sample {
  t: number;
  /** host → [bytes it sent, bytes it received] since the lab was built */
  hosts: Record<string, [number, number]>;
  /** /proc/stat's first line: user nice system idle iowait irq softirq steal (jiffies) */
  cpu: number[];
}

export interface LanTrace {
  /** stop sampling; write the file; the summary line */
  stop(): Promise<string>;
}

/** Start sampling `lan` when BENCH_LAN_TRACE is set (else undefined). */
export function startLanTrace(lan: Lan, name: string, seeder: string): LanTrace | undefined {
  const dir = process.env.BENCH_LAN_TRACE;
  if (!dir) return undefined;
  const samples: Sample[] = [];
  let busy = false;
  const take = async () => {
    if (busy) return;
    busy = true;
    try {
      const hosts = await lan.linkBytes();
      const cpu = machineJiffies();
      samples.push({ t: Date.now(), hosts, cpu });
    } catch {
      // a sample missed: the next one covers it
    } finally {
      busy = false;
    }
  };
  void take();
  const timer = setInterval(() => void take(), 250);
  return {
    async stop() {
      clearInterval(timer);
      await take();
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, `${name}.jsonl`), samples.map((s) => JSON.stringify(s)).join('\n') + '\n');
      return summarize(samples, seeder);
    },
  };
}

/** The summary line of a trace (exported for tests). */
export function summarize(samples: Sample[], seeder: string): string {
  if (samples.length < 2) return 'lab trace: too few samples';
  const first = samples[0]!;
  const at = (s: Sample) => ((s.t - first.t) / 1000).toFixed(1);
  const received = (s: Sample) => Object.entries(s.hosts).reduce((sum, [h, [, rx]]) => sum + (h === seeder ? 0 : rx - (first.hosts[h]?.[1] ?? 0)), 0);
  const total = received(samples.at(-1)!);
  const at90 = samples.find((s) => received(s) >= 0.9 * total) ?? samples.at(-1)!;
  const end = samples.find((s) => received(s) >= total) ?? samples.at(-1)!;
  // the seeder's uplink busy: the last 250 ms step in which it sent more than a tenth of a chunk's worth
  let seederBusyUntil = first;
  for (let i = 1; i < samples.length; i++) {
    const sent = (samples[i]!.hosts[seeder]?.[0] ?? 0) - (samples[i - 1]!.hosts[seeder]?.[0] ?? 0);
    if (sent > 100_000) seederBusyUntil = samples[i]!;
  }
  const cpu = cpuShares(first.cpu, samples.at(-1)!.cpu);
  return (
    `lab trace: data until ${at(end)} s, last 10 % of the bytes ${((end.t - at90.t) / 1000).toFixed(1)} s, ` +
    `seeder uplink busy until ${at(seederBusyUntil)} s; CPU idle ${cpu.idle}%, softirq ${cpu.softirq}%, user ${cpu.user}%`
  );
}

/** One chunk request from a downloader's debug log (`chunk request`: scheduler.ts's onRequestEnd). */
export interface RequestLine {
  /** when it ended (ms since the epoch) */
  t: number;
  host: string;
  index: number;
  from: string;
  complete: boolean;
  tookMs: number;
  outcome: string;
}

/** The `chunk request` lines of a peer's JSON log (others, and lines that do not parse, skipped). */
export function requestLines(log: string, host: string): RequestLine[] {
  const out: RequestLine[] = [];
  for (const line of log.split('\n')) {
    if (!line.includes('"chunk request"')) continue;
    try {
      const r = JSON.parse(line) as { message?: string; timestamp?: string; index?: number; from?: string; complete?: boolean; tookMs?: number; outcome?: string };
      if (r.message !== 'chunk request' || typeof r.index !== 'number' || typeof r.tookMs !== 'number') continue;
      out.push({ t: Date.parse(r.timestamp ?? ''), host, index: r.index, from: String(r.from), complete: r.complete === true, tookMs: r.tookMs, outcome: String(r.outcome) });
    } catch {
      // a line cut short as the peer stopped
    }
  }
  return out;
}

/**
 * With BENCH_LAN_TRACE: every downloader's chunk requests (from its peer's debug log) to
 * DIR/<name>-requests.jsonl, and a summary: requests, how long they took at complete sources (the
 * seeder) and at neighbours (p50 / p90), the endgame's cancels and whatever else did not end ok.
 */
export async function saveRequestTrace(name: string, logs: Array<[host: string, file: string]>): Promise<string | undefined> {
  const dir = process.env.BENCH_LAN_TRACE;
  if (!dir) return undefined;
  const lines: RequestLine[] = [];
  for (const [host, file] of logs) lines.push(...requestLines(await readFile(file, 'utf8').catch(() => ''), host));
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, `${name}-requests.jsonl`), lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  return summarizeRequests(lines);
}

/** The summary line of a request trace (exported for tests). */
export function summarizeRequests(lines: readonly RequestLine[]): string {
  if (lines.length === 0) return 'requests: none logged (the peers at debug level?)';
  const took = (complete: boolean) => {
    const ms = Float64Array.from(lines.filter((l) => l.complete === complete && l.outcome === 'ok').map((l) => l.tookMs)).sort();
    return ms.length === 0 ? 'none' : `${ms.length}, p50 ${Math.round(quantileSorted(ms, 0.5))} ms, p90 ${Math.round(quantileSorted(ms, 0.9))} ms`;
  };
  const other = new Map<string, number>();
  for (const l of lines) if (l.outcome !== 'ok') other.set(l.outcome, (other.get(l.outcome) ?? 0) + 1);
  const others = [...other].map(([k, n]) => `${k} ${n}`).join(', ') || 'none';
  return `requests: ${lines.length}; at complete sources ${took(true)}; at neighbours still downloading ${took(false)}; not ok: ${others}`;
}
