// swarm-1to4: every peer's upload capped at 20 MB/s (env P2P_PEER_UPLOAD_BPS), one seeder, four
// downloaders started together; total time against one downloader alone under the same cap.
// Only a swarm where downloaders serve each other what they already have can get close.
import { statSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { NatsConnection } from 'nats';
import { PROTOCOL_VERSION, StatusReply } from '../../src/protocol/messages.js';
import { subjects } from '../../src/protocol/subjects.js';
import { request } from '../../src/transport/bus.js';
import type { BenchCase, BenchContext } from '../lib/context.js';
import { getFile, startPeer, uploadCapSupported, type GetResult, type Swarm } from '../lib/p2p.js';
import { judge, ratioOf } from '../lib/report.js';
import { withScope } from '../lib/scope.js';
import { MB, median } from '../lib/stats.js';
import { cpuSeconds } from '../lib/procfs.js';
import { downloaderFolder, startSwarm, type RunningSwarm } from '../lib/swarm.js';
import type { Scope } from '../lib/scope.js';

/** four together against one alone: at most this (the seeder sends each chunk about once, the downloaders share the rest) */
const TARGET = 1.15;
/** 20 MB/s */
export const UPLOAD_CAP_BPS = 20 * MB;
const CAP_ENV = { P2P_PEER_UPLOAD_BPS: String(UPLOAD_CAP_BPS) };

/** Chunks peer `id` has served so far (its status). */
export async function servedChunks(nc: NatsConnection, swarm: Swarm, id: string): Promise<number> {
  const reply = await request(nc, subjects(swarm.prefix).status(id), { v: PROTOCOL_VERSION }, StatusReply, { timeoutMs: 5000, who: id });
  return reply.served.chunks;
}

/** How the chunks flowed in one run: chunks the seeder sent (× the file's), and each downloader's. */
export interface ChunkFlow {
  seederSent: number;
  downloadersSent: number[];
  /** each downloader's CPU-seconds (user + sys, /proc) from the ask to the last download's end */
  downloadersCpuS: number[];
}

/** Start `n` fresh downloaders, then ask them all at once; ms until the last one has the file (and the chunk flow). */
async function downloadTogether(ctx: BenchContext, scope: Scope, s: RunningSwarm, tag: string, n: number): Promise<{ ms: number; flow: ChunkFlow }> {
  const ids = Array.from({ length: n }, (_, i) => `${tag}-${i + 1}`);
  const dirs = await Promise.all(ids.map((id) => downloaderFolder(ctx, scope, id)));
  const peers = await Promise.all(ids.map((id, i) => startPeer(scope, s.swarm, dirs[i]!, id, CAP_ENV)));
  const seedId = s.seederIds[0]!;
  const seedBefore = await servedChunks(s.nc, s.swarm, seedId);
  // CPU-seconds move less than wall time with the machine's load: what a change in per-message work shows in
  const cpuBefore = peers.map((p) => cpuSeconds(p.pid) ?? 0);
  const started = performance.now();
  const results: GetResult[] = await Promise.all(ids.map((id) => getFile(scope, s.swarm, id, s.name, 600)));
  const ms = performance.now() - started;
  const downloadersCpuS = peers.map((p, i) => Number(((cpuSeconds(p.pid) ?? 0) - cpuBefore[i]!).toFixed(2)));
  const failed = results.find((r) => !r.ok);
  if (failed) throw new Error(`${tag}: a download failed (${failed.status}): ${failed.error}`);
  const seederSent = (await servedChunks(s.nc, s.swarm, seedId)) - seedBefore;
  const downloadersSent = await Promise.all(ids.map((id) => servedChunks(s.nc, s.swarm, id)));
  return { ms, flow: { seederSent, downloadersSent, downloadersCpuS } };
}

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);

export const swarm1to4: BenchCase = {
  name: 'swarm-1to4',
  async run(ctx) {
    const file = await ctx.files.swarm();
    const size = statSync(file).size;
    const capped = uploadCapSupported();
    const alone: number[] = [];
    const together: number[] = [];
    const flows: ChunkFlow[] = [];
    let chunks = 0;
    await withScope(ctx.scope, async (scope) => {
      const s = await startSwarm(ctx, scope, 'sw', file, 1, CAP_ENV);
      for (let i = 0; i < ctx.opts.reps; i++) {
        const one = await withScope(scope, (rs) => downloadTogether(ctx, rs, s, `sw${i + 1}-alone`, 1));
        alone.push(one.ms);
        chunks = one.flow.seederSent; // one downloader alone: every chunk once
        const four = await withScope(scope, (rs) => downloadTogether(ctx, rs, s, `sw${i + 1}-four`, 4));
        together.push(four.ms);
        flows.push(four.flow);
        ctx.log(
          `swarm-1to4 run ${i + 1}: alone ${(one.ms / 1000).toFixed(1)} s, four together ${(four.ms / 1000).toFixed(1)} s; ` +
            `seeder sent ${four.flow.seederSent} chunks (${(four.flow.seederSent / chunks).toFixed(2)} × the file), downloaders ${four.flow.downloadersSent.join(', ')}; ` +
            `downloaders' CPU ${sum(four.flow.downloadersCpuS).toFixed(2)} s (${four.flow.downloadersCpuS.join(', ')})`,
        );
      }
    });
    const value = median(together) / 1000;
    const baseline = median(alone) / 1000;
    const ratio = ratioOf(value, baseline);
    const aloneRate = size / MB / baseline;
    const sentX = chunks > 0 ? median(flows.map((f) => f.seederSent)) / chunks : null;
    const cpuS = flows.length > 0 ? median(flows.map((f) => sum(f.downloadersCpuS))) : null;
    const notes = [`${(size / 1024 ** 2).toFixed(0)} MiB, cap 20 MB/s, alone ${aloneRate.toFixed(1)} MB/s`];
    if (sentX !== null) notes.push(`seeder sent ${sentX.toFixed(2)}× the file`);
    if (!capped) notes.push('P2P_PEER_UPLOAD_BPS not in this build: ran UNCAPPED');
    else if (aloneRate > (UPLOAD_CAP_BPS / MB) * 1.3) notes.push('cap not effective?');
    return [
      {
        name: 'swarm-1to4',
        value,
        unit: 's',
        baseline,
        baselineOf: 'one downloader alone',
        ratio,
        target: TARGET,
        direction: 'atMost',
        pass: capped ? judge(ratio, TARGET, 'atMost') : null,
        runs: together.map((ms) => ms / 1000),
        detail: { aloneRuns: alone.map((ms) => ms / 1000), sizeBytes: size, uploadCapBps: UPLOAD_CAP_BPS, capSupported: capped, chunks, seederSentX: sentX, downloadersCpuS: cpuS, flows },
        note: notes.join('; '),
      },
    ];
  },
};
