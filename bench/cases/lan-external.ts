// aria2 / transmission / webtorrent -lan-swarm: the lan-swarm case (lab, 1 seeder + 8
// downloaders, every link 100 Mbit/s both ways) with the BitTorrent clients people would
// otherwise use. opentracker runs on the uncapped ctl host; the torrent announces to it. Unlike on
// loopback, transmission accepts these peers (lab addresses are not "martian"). Best effort: a
// missing tool or a failure skips the row with its reason.
import { existsSync, statSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { BT_CLIENTS, type BtClient } from '../lib/bt-clients.js';
import type { BenchCase, BenchContext } from '../lib/context.js';
import { labUnavailable, type Lan } from '../lib/lan.js';
import { judge, skippedRow, type CaseResult } from '../lib/report.js';
import { withScope, type Scope } from '../lib/scope.js';
import { median } from '../lib/stats.js';
import { infoHash, makeTorrent } from '../lib/torrent.js';
import { toolbox, type Toolbox } from '../lib/tools.js';
import { idealRow, idealSeconds, LAN_DOWNLOADERS, LAN_RATE, lanLab, placeFile } from './lan-swarm.js';
import { cpuShares, machineJiffies, machineSeconds, medianShares, sharesText, type CpuShares } from '../lib/procfs.js';

const TRACKER_PORT = 6969;

/** Seeders the lab's opentracker lists for `hash` (a scrape run inside the ctl host). */
async function seeders(lan: Lan, hash: string): Promise<number> {
  const url = `http://${lan.host('ctl').addr}:${TRACKER_PORT}/scrape?info_hash=${hash.replace(/../g, (b) => `%${b}`)}`;
  const js = `require('http').get(${JSON.stringify(url)},r=>{let b='';r.setEncoding('latin1');r.on('data',d=>b+=d);r.on('end',()=>console.log(b))}).on('error',()=>console.log(''))`;
  const out = await lan.exec('ctl', process.execPath, ['-e', js]).catch(() => '');
  const m = /8:completei(\d+)e/.exec(out);
  return m ? Number(m[1]) : 0;
}

async function until(what: string, timeoutMs: number, check: () => Promise<boolean> | boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function clientRun(ctx: BenchContext, tools: Toolbox, client: BtClient, file: string, rep: number): Promise<{ ms: number; cpu: CpuShares; busy: number; tcp: string }> {
  return withScope(ctx.scope, async (scope: Scope) => {
    const lan = await lanLab(scope);
    const work = join(ctx.work, `lan-${client.name}-${rep}`);
    await mkdir(work, { recursive: true });
    const hostOf = (h: string) => ({ ns: lan.host(h).ns, addr: lan.host(h).addr });
    const torrent = await makeTorrent(scope, file, `http://${lan.host('ctl').addr}:${TRACKER_PORT}/announce`, join(work, `${basename(file)}.torrent`));
    const hash = infoHash(torrent);
    // opentracker drops to user nobody: its whitelist must be readable by anyone (the run's folder is not)
    const open = await mkdtemp(join(tmpdir(), 'p2p-bench-lan-opentracker-'));
    scope.defer(() => rm(open, { recursive: true, force: true }));
    await chmod(open, 0o755);
    const whitelist = join(open, 'whitelist.txt');
    await writeFile(whitelist, hash + '\n', { mode: 0o644 });
    const addr = lan.host('ctl').addr;
    const tracker = lan.spawn('ctl', tools.found.get('opentracker') ?? '/usr/bin/opentracker', ['-i', addr, '-p', String(TRACKER_PORT), '-P', String(TRACKER_PORT), '-w', whitelist], { env: process.env });
    void tracker.exited.then((code) => ctx.log(`opentracker exited ${code}: ${tracker.lines.slice(-3).join(' | ')}`));
    const seedDir = join(work, 'seed');
    await placeFile(file, seedDir);
    await client.start(scope, 'seed', { torrent, dir: seedDir, state: join(work, 'seed.state'), host: hostOf('seed') }, tools.found);
    await until('the seeder registered with the tracker', 60_000, async () => (await seeders(lan, hash)) >= 1);
    const ds = Array.from({ length: LAN_DOWNLOADERS }, (_, i) => `d${i + 1}`);
    for (const h of ds) await mkdir(join(work, h), { recursive: true });
    const started = performance.now();
    const jiffies0 = machineJiffies();
    const procs = await Promise.all(
      ds.map((h) => client.start(scope, 'get', { torrent, dir: join(work, h), state: join(work, `${h}.state`), marker: join(work, `${h}.done`), host: hostOf(h) }, tools.found)),
    );
    let exited = -1;
    procs.forEach((p, i) => void p.exited.then(() => (exited = i)));
    await until(`${client.name}: every downloader done`, 600_000, () => {
      if (exited >= 0 && !existsSync(join(work, `d${exited + 1}.done`))) throw new Error(`d${exited + 1} exited: ${procs[exited]!.tail(3)}`);
      return ds.every((h) => existsSync(join(work, `${h}.done`)));
    });
    const ms = performance.now() - started;
    const jiffies1 = machineJiffies();
    const cpu = cpuShares(jiffies0, jiffies1);
    const busy = machineSeconds(jiffies0, jiffies1).busy;
    for (const h of ds) {
      if (statSync(join(work, h, basename(file))).size !== statSync(file).size) throw new Error(`${client.name} ${h}: incomplete file`);
    }
    return { ms, cpu, busy, tcp: await lan.congestion() };
  });
}

const ROWS = BT_CLIENTS.map((c) => ({ client: c, name: `${c.name}-lan-swarm` }));

export const lanExternal: BenchCase = {
  name: 'lan-external',
  external: true,
  rows: ROWS.map((r) => r.name),
  timeoutMs: (o) => (o.quick ? 600_000 : 2_400_000),
  async run(ctx): Promise<CaseResult[]> {
    const why = await labUnavailable();
    if (why) return ROWS.map((r) => skippedRow(r.name, 's', `LAN lab unavailable: ${why}`));
    let tools: Toolbox;
    try {
      tools = await toolbox(ctx.scope, ctx.opts.toolsDir, ctx.opts.quick ? 150_000 : 300_000, ctx.log);
    } catch (err) {
      return ROWS.map((r) => skippedRow(r.name, 's', `tools: ${(err as Error).message.split('\n')[0]}`));
    }
    const file = await ctx.files.swarm();
    const ideal = idealSeconds(statSync(file).size);
    const p2pRow = ctx.results.get('lan-swarm');
    const p2p = p2pRow?.value ?? null;
    const rows: CaseResult[] = [];
    for (const r of ROWS) {
      const missing = [...r.client.needs, 'mktorrent', 'opentracker'].find((t) => !tools.found.has(t));
      if (missing) {
        rows.push(skippedRow(r.name, 's', `${missing}: ${tools.missing.get(missing) ?? 'not found'}`));
        continue;
      }
      try {
        const runs: number[] = [];
        const cpu: CpuShares[] = [];
        const busy: number[] = [];
        let tcp = '?';
        for (let i = 0; i < ctx.opts.externalReps; i++) {
          const run = await clientRun(ctx, tools, r.client, file, i + 1);
          runs.push(run.ms / 1000);
          cpu.push(run.cpu);
          busy.push(run.busy);
          tcp = run.tcp;
          ctx.log(`${r.name} run ${i + 1}: ${runs.at(-1)!.toFixed(1)} s (ideal ${ideal.toFixed(1)} s); ${sharesText(run.cpu)}; the machine busy ${run.busy.toFixed(0)} CPU s`);
        }
        const value = median(runs);
        const row = idealRow(r.name, runs, ideal, `${r.client.name} ${tools.versions[r.client.name] ?? ''}, same lab and caps as lan-swarm${p2p !== null ? `; p2p took ${(p2p / value).toFixed(2)}× this` : ''}; ${sharesText(medianShares(cpu))} over the run, the machine busy ${median(busy).toFixed(0)} CPU s; TCP ${tcp}`);
        rows.push({ ...row, detail: { cpuShares: cpu, busyCpuS: busy, tcp } });
        // lan-swarm must be ahead of every client measured in the same run: a check on its row
        if (p2pRow && p2p !== null) {
          const ratio = p2p / value;
          (p2pRow.checks ??= []).push({ baselineOf: `${r.name}, same run`, baseline: value, ratio, target: 1, direction: 'atMost', pass: judge(ratio, 1, 'atMost') });
        }
      } catch (err) {
        ctx.log(`${r.name} failed: ${(err as Error).message}`);
        rows.push(skippedRow(r.name, 's', `failed: ${(err as Error).message.split('\n')[0]}`));
      }
    }
    return rows;
  },
};

