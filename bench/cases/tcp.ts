// tcp-limit and verified-copy: the physical limits every download is compared with, measured
// between two plain Node processes on loopback in the same run.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { procScript, type BenchCase, type BenchContext } from '../lib/context.js';
import { spawnProc } from '../lib/procs.js';
import type { CaseResult } from '../lib/report.js';
import { withScope } from '../lib/scope.js';
import { GiB, median, rateMBps } from '../lib/stats.js';

interface SinkReport {
  bytes: number;
  ms: number;
  /** to the last byte written, before the fsync */
  writtenMs?: number;
  sha256?: string;
}

/** One transfer: sink first (listening), then the source; the sink times connection → last byte handled. */
async function transfer(ctx: BenchContext, bytes: number, mode: { file?: string; out?: string }): Promise<SinkReport> {
  return withScope(ctx.scope, async (scope) => {
    const sinkArgs = [procScript('tcp-sink'), ...(mode.out ? ['--hash', '--out', mode.out] : [])];
    const sink = spawnProc(scope, process.execPath, sinkArgs, { label: 'tcp-sink' });
    const port = /listening (\d+)/.exec(await sink.waitFor(/listening \d+/, 10_000))![1]!;
    const sourceArgs = [procScript('tcp-source'), '--port', port, '--bytes', String(bytes), ...(mode.file ? ['--file', mode.file] : [])];
    spawnProc(scope, process.execPath, sourceArgs, { label: 'tcp-source' });
    const done = await sink.waitFor(/^done /, 120_000);
    const report = JSON.parse(done.slice(5)) as SinkReport;
    if (report.bytes !== bytes) throw new Error(`sink received ${report.bytes} bytes, expected ${bytes}`);
    return report;
  });
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

export const verifiedCopy: BenchCase = {
  name: 'verified-copy',
  async run(ctx) {
    const file = await ctx.files.big();
    const bytes = GiB;
    const out = join(ctx.work, 'verified-copy.bin');
    const runs: number[] = [];
    const unsynced: number[] = [];
    const digests = new Set<string>();
    for (let i = 0; i < ctx.opts.reps; i++) {
      try {
        const r = await transfer(ctx, bytes, { file, out });
        runs.push(rateMBps(bytes, r.ms));
        unsynced.push(rateMBps(bytes, r.writtenMs ?? r.ms));
        if (r.sha256) digests.add(r.sha256);
        ctx.log(`verified-copy run ${i + 1}: ${runs.at(-1)!.toFixed(0)} MB/s (${unsynced.at(-1)!.toFixed(0)} MB/s before the fsync)`);
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
    ];
  },
};
