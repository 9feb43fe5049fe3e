// The tools people would otherwise use, as extra rows in the same ratio form and on the same
// files and caps: aria2, transmission-cli and webtorrent, 1 GiB one-to-one (against
// verified-copy, like download-1to1) and the capped swarm-1to4. Best effort: each row is
// time-boxed and a missing tool or a failure skips the row with its reason; never fatal.
import { existsSync, statSync } from 'node:fs';
import { copyFile, link, mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { BT_CLIENTS, type BtClient } from '../lib/bt-clients.js';
import { freePort, startBtTracker, type BtTracker } from '../lib/bt-tracker.js';
import { onlyMatches, valueOf, type BenchCase, type BenchContext } from '../lib/context.js';
import type { Proc } from '../lib/procs.js';
import { ratioOf, skippedRow, type CaseResult } from '../lib/report.js';
import { Scope, withScope } from '../lib/scope.js';
import { median, rateMBps } from '../lib/stats.js';
import { infoHash, makeTorrent } from '../lib/torrent.js';
import { toolbox, type Toolbox } from '../lib/tools.js';
import { UPLOAD_CAP_BPS } from './swarm.js';

/** With --quick the whole run (builds aside) stays under this: an external row starts only if it fits. */
const QUICK_BUDGET_MS = 165_000;

interface BtSetup {
  tools: Toolbox;
  tracker: BtTracker;
  dir: string;
  torrents: Map<string, { torrent: string; hash: string }>;
}

async function setup(ctx: BenchContext, scope: Scope): Promise<BtSetup> {
  const tools = await toolbox(scope, ctx.opts.toolsDir, ctx.opts.quick ? 150_000 : 300_000, ctx.log);
  Object.assign(ctx.machine.tools, tools.versions);
  for (const [name, why] of tools.missing) ctx.log(`external tool ${name}: ${why}`);
  if (!tools.found.has('mktorrent')) throw new Error(`mktorrent: ${tools.missing.get('mktorrent')}`);
  const dir = join(ctx.work, 'bt');
  await mkdir(dir, { recursive: true });
  const port = await freePort();
  const torrents = new Map<string, { torrent: string; hash: string }>();
  for (const file of [await ctx.files.big(), await ctx.files.swarm()]) {
    const torrent = await makeTorrent(scope, file, `http://127.0.0.1:${port}/announce`, join(dir, `${basename(file)}.torrent`));
    torrents.set(file, { torrent, hash: infoHash(torrent) });
  }
  const tracker = await startBtTracker(scope, port, [...torrents.values()].map((t) => t.hash), ctx.log);
  ctx.machine.tools.btTracker = tracker.kind;
  return { tools, tracker, dir, torrents };
}

async function waitSeeders(s: BtSetup, hash: string, count: number, seeder: Proc, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void seeder.exited.then(() => (exited = true));
  while (Date.now() < deadline) {
    if (exited) throw new Error(`the seeder exited: ${seeder.tail(3).replace(/\n/g, ' | ')}`);
    if ((await s.tracker.seeders(hash).catch(() => 0)) >= count) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the tracker saw no seeder within ${timeoutMs / 1000} s: ${seeder.tail(3).replace(/\n/g, ' | ')}`);
}

async function waitMarker(marker: string, proc: Proc, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void proc.exited.then(() => (exited = true));
  while (!existsSync(marker)) {
    if (exited) throw new Error(`the downloader exited before finishing: ${proc.tail(3).replace(/\n/g, ' | ')}`);
    if (Date.now() > deadline) throw new Error(`no complete download within ${timeoutMs / 1000} s: ${proc.tail(3).replace(/\n/g, ' | ')}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A seeder of `file` (hard-linked into its own folder) that the tracker lists. */
async function startSeeder(scope: Scope, s: BtSetup, client: BtClient, file: string, uploadBps: number): Promise<void> {
  const seedDir = join(s.dir, `${client.name}-seed-${basename(file)}`);
  await mkdir(seedDir, { recursive: true });
  const copy = join(seedDir, basename(file));
  if (!existsSync(copy)) await link(file, copy).catch(() => copyFile(file, copy));
  const t = s.torrents.get(file)!;
  const seeder = await client.start(scope, 'seed', { torrent: t.torrent, dir: seedDir, state: `${seedDir}.state`, uploadBps }, s.tools.found);
  await waitSeeders(s, t.hash, 1, seeder, 45_000);
}

/** Start `n` downloaders together; ms until the last has verified the whole file. */
async function downloadTogether(scope: Scope, s: BtSetup, client: BtClient, file: string, tag: string, n: number, uploadBps: number): Promise<number> {
  const t = s.torrents.get(file)!;
  const size = statSync(file).size;
  const peers = Array.from({ length: n }, (_, i) => {
    const dir = join(s.dir, `${tag}-${i + 1}`);
    return { dir, state: `${dir}.state`, marker: `${dir}.done` };
  });
  for (const p of peers) await mkdir(p.dir, { recursive: true });
  const started = performance.now();
  const procs = await Promise.all(peers.map((p) => client.start(scope, 'get', { torrent: t.torrent, dir: p.dir, state: p.state, marker: p.marker, uploadBps }, s.tools.found)));
  await Promise.all(peers.map((p, i) => waitMarker(p.marker, procs[i]!, 600_000)));
  const ms = performance.now() - started;
  for (const p of peers) {
    const got = join(p.dir, basename(file));
    if (!existsSync(got) || statSync(got).size !== size) throw new Error(`${client.name} reported done but ${got} is not complete`);
  }
  return ms;
}

async function oneToOne(ctx: BenchContext, scope: Scope, s: BtSetup, client: BtClient): Promise<CaseResult> {
  const file = await ctx.files.big();
  const size = statSync(file).size;
  await startSeeder(scope, s, client, file, 0);
  const runs: number[] = [];
  for (let i = 0; i < ctx.opts.externalReps; i++) {
    const ms = await withScope(scope, (rs) => downloadTogether(rs, s, client, file, `${client.name}-1to1-${i + 1}`, 1, 0));
    runs.push(rateMBps(size, ms));
    ctx.log(`${client.name}-1to1 run ${i + 1}: ${runs.at(-1)!.toFixed(0)} MB/s`);
  }
  const value = median(runs);
  const verified = valueOf(ctx, 'verified-copy');
  const p2p = ratioOf(valueOf(ctx, 'download-1to1'), value);
  return {
    name: `${client.name}-1to1`,
    value,
    unit: 'MB/s',
    baseline: verified,
    baselineOf: 'verified-copy',
    ratio: ratioOf(value, verified),
    target: null,
    pass: null,
    runs,
    note: `${client.name} ${s.tools.versions[client.name] ?? ''}, spawn → all pieces verified${p2p !== null ? `; download-1to1 is ${p2p.toFixed(2)}× this` : ''}`,
  };
}

async function swarm(ctx: BenchContext, scope: Scope, s: BtSetup, client: BtClient): Promise<CaseResult> {
  const file = await ctx.files.swarm();
  await startSeeder(scope, s, client, file, UPLOAD_CAP_BPS);
  const alone: number[] = [];
  const together: number[] = [];
  for (let i = 0; i < ctx.opts.externalReps; i++) {
    alone.push(await withScope(scope, (rs) => downloadTogether(rs, s, client, file, `${client.name}-sw${i + 1}-alone`, 1, UPLOAD_CAP_BPS)));
    together.push(await withScope(scope, (rs) => downloadTogether(rs, s, client, file, `${client.name}-sw${i + 1}-four`, 4, UPLOAD_CAP_BPS)));
    ctx.log(`${client.name}-swarm-1to4 run ${i + 1}: alone ${(alone.at(-1)! / 1000).toFixed(1)} s, four ${(together.at(-1)! / 1000).toFixed(1)} s`);
  }
  const value = median(together) / 1000;
  const baseline = median(alone) / 1000;
  return {
    name: `${client.name}-swarm-1to4`,
    value,
    unit: 's',
    baseline,
    baselineOf: 'one downloader alone',
    ratio: ratioOf(value, baseline),
    target: null,
    pass: null,
    runs: together.map((ms) => ms / 1000),
    detail: { aloneRuns: alone.map((ms) => ms / 1000) },
    note: `${(statSync(file).size / 1024 ** 2).toFixed(0)} MiB, every peer's upload capped at 20 MB/s`,
  };
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms / 1000} s`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Run `body` in its own scope under `ms`; its processes are stopped when time runs out. */
async function timeBoxed<T>(parent: Scope, ms: number, body: (scope: Scope) => Promise<T>): Promise<T> {
  const scope = new Scope(parent);
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      body(scope),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms / 1000} s`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    await scope.close();
  }
}

/** One-to-one rows first: with --quick, the time budget is most likely to run out on the swarm rows. */
const ROWS = [
  ...BT_CLIENTS.map((c) => ({ client: c, name: `${c.name}-1to1`, unit: 'MB/s', run: oneToOne, quickEstimateMs: 15_000 })),
  ...BT_CLIENTS.map((c) => ({ client: c, name: `${c.name}-swarm-1to4`, unit: 's', run: swarm, quickEstimateMs: 22_000 })),
];

export const externalCases: BenchCase[] = [
  {
    name: 'external',
    external: true,
    rows: ROWS.map((r) => r.name),
    timeoutMs: (o) => (o.quick ? 600_000 : 3_600_000),
    async run(ctx) {
      const wanted = ROWS.filter((r) => ctx.opts.only.length === 0 || ctx.opts.only.some((o) => o === 'external' || onlyMatches(o, r.name)));
      let s: BtSetup;
      try {
        // the tracker must outlive this step: setup registers in the case's own scope
        s = await withTimeout(setup(ctx, ctx.scope), ctx.opts.quick ? 200_000 : 400_000);
      } catch (err) {
        return wanted.map((r) => skippedRow(r.name, r.unit, `setup failed: ${(err as Error).message.split('\n')[0]}`));
      }
      const rows: CaseResult[] = [];
      for (const r of wanted) {
        if (r.client.unsupported) {
          rows.push(skippedRow(r.name, r.unit, r.client.unsupported));
          continue;
        }
        const missing = r.client.needs.find((t) => !s.tools.found.has(t));
        if (missing) {
          rows.push(skippedRow(r.name, r.unit, `${missing}: ${s.tools.missing.get(missing)}`));
          continue;
        }
        const left = QUICK_BUDGET_MS - (Date.now() - ctx.startedAt);
        if (ctx.opts.quick && left < r.quickEstimateMs) {
          rows.push(skippedRow(r.name, r.unit, `--quick time budget (${QUICK_BUDGET_MS / 1000} s for the run) used up`));
          continue;
        }
        try {
          rows.push(await timeBoxed(ctx.scope, ctx.opts.quick ? Math.min(60_000, left) : 600_000, (scope) => r.run(ctx, scope, s, r.client)));
        } catch (err) {
          ctx.log(`${r.name} failed: ${(err as Error).message}`);
          rows.push(skippedRow(r.name, r.unit, `failed: ${(err as Error).message.split('\n')[0]}`));
        }
      }
      return rows;
    },
  },
];
