// tcp-limit and verified-copy: the physical limits every download is compared with, measured
// between two plain Node processes on loopback in the same run. verified-copy also gives the CPU
// baselines: its receiver's CPU seconds per GiB (hash + write + fsync) and its sender's (a plain
// file-to-socket sender), against which a downloading peer's and a seeder's CPU per GiB are set.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { procScript, type BenchCase, type BenchContext } from '../lib/context.js';
import { spawnProc } from '../lib/procs.js';
import type { CaseResult } from '../lib/report.js';
import { withScope } from '../lib/scope.js';
import { settledPages } from '../lib/pages.js';
import { GiB, median, rateMBps } from '../lib/stats.js';

interface SinkReport {
  bytes: number;
  ms: number;
  /** to the last byte written, before the fsync */
  writtenMs?: number;
  sha256?: string;
  /** the sink's CPU seconds (user + system) from the connection to the report */
  cpuSec?: number;
  /** of which system time */
  sysSec?: number;
  /** of which the main thread's (user + system; the rest: libuv's pool, V8's helper threads) */
  mainCpuSec?: number;
  /** the source's CPU seconds from its connection to its last byte flushed */
  sourceCpuSec?: number;
  /** of which system time */
  sourceSysSec?: number;
  /** of which the source's main thread's (the rest: libuv's pool reading the file, V8's helpers) */
  sourceMainCpuSec?: number;
}

/**
 * One transfer: sink first (listening), then the source; the sink times connection → last byte handled.
 * With `senders` > 1 (a file only) that many sources each send their contiguous part of the file
 * over their own connection, and the sources' CPU is their sum.
 */
export async function transfer(ctx: BenchContext, bytes: number, mode: { file?: string; out?: string; senders?: number }): Promise<SinkReport> {
  const senders = mode.file ? Math.max(1, mode.senders ?? 1) : 1;
  return withScope(ctx.scope, async (scope) => {
    const sinkArgs = [procScript('tcp-sink'), ...(mode.out ? ['--hash', '--out', mode.out] : []), ...(senders > 1 ? ['--conns', String(senders)] : [])];
    const sink = spawnProc(scope, process.execPath, sinkArgs, { label: 'tcp-sink' });
    const port = /listening (\d+)/.exec(await sink.waitFor(/listening \d+/, 10_000))![1]!;
    // the sink starts on a settled machine and freshly freed memory, like a measured download (lib/pages.ts)
    if (mode.out) await settledPages(ctx.work, bytes);
    const parts = splitParts(bytes, senders);
    const sources = parts.map(([offset, length], i) => {
      const sourceArgs = [procScript('tcp-source'), '--port', port, '--bytes', String(length), ...(mode.file ? ['--file', mode.file] : []), ...(senders > 1 ? ['--offset', String(offset)] : [])];
      return spawnProc(scope, process.execPath, sourceArgs, { label: senders > 1 ? `tcp-source-${i + 1}` : 'tcp-source' });
    });
    const done = await sink.waitFor(/^done /, 120_000);
    const report = JSON.parse(done.slice(5)) as SinkReport;
    if (report.bytes !== bytes) throw new Error(`sink received ${report.bytes} bytes, expected ${bytes}`);
    const sent = await Promise.all(sources.map((source) => source.waitFor(/^done /, 10_000).catch(() => undefined)));
    if (sent.every((line) => line !== undefined)) {
      const srcs = sent.map((line) => JSON.parse(line.slice(5)) as { cpuSec?: number; sysSec?: number; mainCpuSec?: number });
      const sum = (pick: (s: (typeof srcs)[number]) => number | undefined) => (srcs.some((s) => pick(s) === undefined) ? undefined : srcs.reduce((a, s) => a + pick(s)!, 0));
      report.sourceCpuSec = sum((s) => s.cpuSec);
      report.sourceSysSec = sum((s) => s.sysSec);
      report.sourceMainCpuSec = sum((s) => s.mainCpuSec);
    }
    return report;
  });
}

/** `bytes` in `n` contiguous parts on 1 MiB boundaries: [offset, length] each. */
function splitParts(bytes: number, n: number): Array<[number, number]> {
  const block = 1024 * 1024;
  const per = Math.ceil(bytes / n / block) * block;
  const parts: Array<[number, number]> = [];
  for (let at = 0; at < bytes; at += per) parts.push([at, Math.min(per, bytes - at)]);
  return parts;
}

/** A verified copy made beside a run: its rate, and its receiver's and sender's CPU seconds per GiB with the system time in them. */
export interface PairedCopy {
  /** the copy's rate, MB/s (SHA-256 + write + fsync, as verified-copy's) */
  rate: number;
  recvCpuPerGiB?: number;
  recvSysPerGiB?: number;
  /** of recvCpuPerGiB, the receiver's main thread (the event loop) */
  recvMainPerGiB?: number;
  sendCpuPerGiB?: number;
  sendSysPerGiB?: number;
  /** of sendCpuPerGiB, the plain sender's main thread */
  sendMainPerGiB?: number;
}

/**
 * One verified copy of `file` (`bytes` of it), for a CPU baseline taken right beside the run it is
 * compared with: the receiver's and the sender's CPU seconds per GiB (undefined if not reported).
 * With `senders` > 1, that many plain senders each send their part over their own connection
 * (their CPU summed).
 */
export async function pairedCopy(ctx: BenchContext, file: string, bytes: number, tag: string, senders = 1): Promise<PairedCopy> {
  const out = join(ctx.work, `paired-${tag}${senders > 1 ? `-x${senders}` : ''}.bin`);
  try {
    const r = await transfer(ctx, bytes, { file, out, senders });
    return { rate: rateMBps(bytes, r.ms), recvCpuPerGiB: perGiB(r.cpuSec, bytes) ?? undefined, recvSysPerGiB: perGiB(r.sysSec, bytes) ?? undefined, recvMainPerGiB: perGiB(r.mainCpuSec, bytes) ?? undefined, sendCpuPerGiB: perGiB(r.sourceCpuSec, bytes) ?? undefined, sendSysPerGiB: perGiB(r.sourceSysSec, bytes) ?? undefined, sendMainPerGiB: perGiB(r.sourceMainCpuSec, bytes) ?? undefined };
  } finally {
    await rm(out, { force: true });
  }
}

export const tcpLimit: BenchCase = {
  name: 'tcp-limit',
  async run(ctx) {
    const bytes = GiB;
    const runs: number[] = [];
    for (let i = 0; i < ctx.opts.reps; i++) {
      const r = await transfer(ctx, bytes, {});
      runs.push(rateMBps(bytes, r.ms));
      ctx.log(`tcp-limit run ${i + 1}: ${runs.at(-1)!.toFixed(0)} MB/s`);
    }
    const row: CaseResult = {
      name: 'tcp-limit',
      value: median(runs),
      unit: 'MB/s',
      baseline: null,
      ratio: null,
      target: null,
      pass: null,
      runs,
      note: '1 GiB from one pooled buffer, receiver discards',
    };
    return [row];
  },
};

/** CPU seconds per GiB, or null when not measured. */
function perGiB(cpuSec: number | undefined, bytes: number): number | null {
  return cpuSec === undefined ? null : cpuSec / (bytes / GiB);
}

export const verifiedCopy: BenchCase = {
  name: 'verified-copy',
  rows: ['verified-copy', 'verified-copy-cpu', 'file-send-cpu'],
  async run(ctx) {
    const file = await ctx.files.big();
    const bytes = GiB;
    const out = join(ctx.work, 'verified-copy.bin');
    const runs: number[] = [];
    const unsynced: number[] = [];
    const digests = new Set<string>();
    const recvCpu: number[] = [];
    const sendCpu: number[] = [];
    for (let i = 0; i < ctx.opts.reps; i++) {
      try {
        const r = await transfer(ctx, bytes, { file, out });
        runs.push(rateMBps(bytes, r.ms));
        unsynced.push(rateMBps(bytes, r.writtenMs ?? r.ms));
        if (r.sha256) digests.add(r.sha256);
        const rc = perGiB(r.cpuSec, bytes);
        const sc = perGiB(r.sourceCpuSec, bytes);
        if (rc !== null) recvCpu.push(rc);
        if (sc !== null) sendCpu.push(sc);
        ctx.log(
          `verified-copy run ${i + 1}: ${runs.at(-1)!.toFixed(0)} MB/s (${unsynced.at(-1)!.toFixed(0)} MB/s before the fsync), CPU/GiB receiver ${rc?.toFixed(2)} s, sender ${sc?.toFixed(2)} s`,
        );
      } finally {
        await rm(out, { force: true });
      }
    }
    if (digests.size > 1) throw new Error('verified-copy: the runs received different bytes');
    return [
      {
        name: 'verified-copy',
        value: median(runs),
        unit: 'MB/s',
        baseline: null,
        ratio: null,
        target: null,
        pass: null,
        runs,
        detail: { beforeFsyncMBps: median(unsynced), beforeFsyncRuns: unsynced },
        note: `1 GiB file, one TCP conn, SHA-256 + write + fsync (${median(unsynced).toFixed(0)} MB/s before the fsync)`,
      },
      cpuRow('verified-copy-cpu', recvCpu, 'receiver of verified-copy: CPU s (user+sys) per GiB hashed, written, fsynced'),
      cpuRow('file-send-cpu', sendCpu, 'sender of verified-copy: CPU s (user+sys) per GiB read from the file and written to the socket'),
    ];
  },
};

function cpuRow(name: string, runs: number[], note: string): CaseResult {
  return { name, value: runs.length ? median(runs) : null, unit: 's/GiB', baseline: null, ratio: null, target: null, pass: null, runs, note };
}
