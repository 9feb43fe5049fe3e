// download-1to1, download-3to1 and peer-rss: a 1 GiB (or 4 GiB) file from one or three p2p
// seeders to one fresh downloader, timed from intent to verified file under its final name (the
// peer's own measure; the `p2p get` wall time, CLI start-up included, is kept in the detail).
import { statSync } from 'node:fs';
import type { BenchCase, BenchContext } from '../lib/context.js';
import { valueOf } from '../lib/context.js';
import { getFile, startPeer } from '../lib/p2p.js';
import { judge, ratioOf, type CaseResult } from '../lib/report.js';
import { sampleRss } from '../lib/procfs.js';
import { withScope } from '../lib/scope.js';
import { MB, median, rateMBps } from '../lib/stats.js';
import { downloaderFolder, startSwarm } from '../lib/swarm.js';

export interface DownloadRun {
  /** MB/s, intent → verified (peer-measured) */
  rate: number;
  /** MB/s over the wall time of `p2p get` */
  wallRate: number;
  /** peak RSS of the downloading peer, bytes */
  rss: number | undefined;
  sources: number;
}

/** `reps` downloads of `file` from `seeders` seeders, each by a fresh downloader peer. */
export async function downloadRuns(ctx: BenchContext, tag: string, file: string, seeders: number, reps: number): Promise<DownloadRun[]> {
  const size = statSync(file).size;
  return withScope(ctx.scope, async (scope) => {
    const s = await startSwarm(ctx, scope, tag, file, seeders);
    const runs: DownloadRun[] = [];
    for (let i = 0; i < reps; i++) {
      const run = await withScope(scope, async (rs) => {
        const id = `${tag}-dl${i + 1}`;
        const dir = await downloaderFolder(ctx, rs, id);
        const peer = await startPeer(rs, s.swarm, dir, id);
        const rss = sampleRss(peer.pid);
        const r = await getFile(rs, s.swarm, id, s.name, 600);
        const peak = rss.stop();
        if (!r.ok) throw new Error(`${tag}: download failed (${r.status}): ${r.error}`);
        return { rate: rateMBps(size, r.peerMs ?? r.wallMs), wallRate: rateMBps(size, r.wallMs), rss: peak, sources: r.sources };
      });
      runs.push(run);
      ctx.log(`${tag} run ${i + 1}: ${run.rate.toFixed(0)} MB/s (wall ${run.wallRate.toFixed(0)}), ${run.sources} source(s), peak RSS ${((run.rss ?? 0) / MB).toFixed(0)} MB`);
    }
    return runs;
  });
}

function detailOf(runs: DownloadRun[]): Record<string, unknown> {
  return {
    wallRateMBps: median(runs.map((r) => r.wallRate)),
    wallRuns: runs.map((r) => Math.round(r.wallRate)),
    sources: runs.map((r) => r.sources),
    peakRssMB: runs.map((r) => Math.round((r.rss ?? 0) / MB)),
  };
}

export const download1to1: BenchCase = {
  name: 'download-1to1',
  async run(ctx) {
    const runs = await downloadRuns(ctx, 'd1', await ctx.files.big(), 1, ctx.opts.reps);
    ctx.shared.set('rss-1to1', runs.map((r) => r.rss));
    const value = median(runs.map((r) => r.rate));
    const verified = valueOf(ctx, 'verified-copy');
    const tcp = valueOf(ctx, 'tcp-limit');
    const ratio = ratioOf(value, verified);
    const tcpRatio = ratioOf(value, tcp);
    const checks = [{ baselineOf: 'tcp-limit', baseline: tcp, ratio: tcpRatio, target: 0.6, direction: 'atLeast' as const, pass: judge(tcpRatio, 0.6, 'atLeast') }];
    const p1 = judge(ratio, 0.85, 'atLeast');
    const row: CaseResult = {
      name: 'download-1to1',
      value,
      unit: 'MB/s',
      baseline: verified,
      baselineOf: 'verified-copy',
      ratio,
      target: 0.85,
      direction: 'atLeast',
      pass: p1 === null || checks[0]!.pass === null ? null : p1 && checks[0]!.pass,
      runs: runs.map((r) => r.rate),
      checks,
      detail: detailOf(runs),
      note: `wall (incl. CLI start) ${median(runs.map((r) => r.wallRate)).toFixed(0)} MB/s`,
    };
    return [row];
  },
};

export const download3to1: BenchCase = {
  name: 'download-3to1',
  async run(ctx) {
    const runs = await downloadRuns(ctx, 'd3', await ctx.files.big(), 3, ctx.opts.reps);
    const value = median(runs.map((r) => r.rate));
    const one = valueOf(ctx, 'download-1to1');
    const ratio = ratioOf(value, one);
    return [
      {
        name: 'download-3to1',
        value,
        unit: 'MB/s',
        baseline: one,
        baselineOf: 'download-1to1',
        ratio,
        target: 1.0,
        direction: 'atLeast',
        pass: judge(ratio, 1.0, 'atLeast'),
        runs: runs.map((r) => r.rate),
        detail: detailOf(runs),
        note: `wall ${median(runs.map((r) => r.wallRate)).toFixed(0)} MB/s; sources seen ${[...new Set(runs.map((r) => r.sources))].join('/')}`,
      },
    ];
  },
};

export const peerRss: BenchCase = {
  name: 'peer-rss',
  async run(ctx) {
    const huge = await ctx.files.huge();
    const size = statSync(huge).size;
    const label = `${(size / 1024 ** 3).toFixed(0)} GiB`;
    // with --quick the file is the 1 GiB one: the download-1to1 runs already measured it
    const reused = ctx.opts.quick ? (ctx.shared.get('rss-1to1') as Array<number | undefined> | undefined) : undefined;
    const peaks = reused?.length ? reused : (await downloadRuns(ctx, 'rss', huge, 1, ctx.opts.reps)).map((r) => r.rss);
    const values = peaks.filter((p): p is number => p !== undefined).map((p) => p / MB);
    if (values.length === 0) throw new Error('no RSS sample (is /proc mounted?)');
    const value = median(values);
    return [
      {
        name: 'peer-rss',
        value,
        unit: 'MB',
        baseline: null,
        ratio: null,
        target: 150,
        direction: 'atMost',
        pass: judge(value, 150, 'atMost'),
        runs: values,
        note: `peak RSS of the downloading peer, ${label} download${reused?.length ? ' (the download-1to1 runs)' : ''}`,
      },
    ];
  },
};
