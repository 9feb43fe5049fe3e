// `npm run bench [-- --quick] [--keep] [--only a,b] [--skip-external] [--reps N]`: real processes
// on loopback with a private nats-server; prints a table and writes bench/results/latest.json.
// Every child process is killed and every temp folder removed at the end, on failure and on Ctrl-C.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { download1to1, download3to1, peerRss } from './cases/download.js';
import { externalCases } from './cases/external.js';
import { startup } from './cases/startup.js';
import { swarm1to4 } from './cases/swarm.js';
import { tcpLimit, verifiedCopy } from './cases/tcp.js';
import { trackerLoad } from './cases/tracker.js';
import { lanSwarm } from './cases/lan-swarm.js';
import { lanExternal } from './cases/lan-external.js';
import { trackerKv } from './cases/tracker-kv.js';
import { trackerRestart } from './cases/tracker-restart.js';
import { onlyMatches, type BenchCase, type BenchContext, type BenchOptions, type TestFiles } from './lib/context.js';
import { ensureDataFile } from './lib/files.js';
import { machineInfo } from './lib/machine.js';
import { reportedGiB, reportedKib } from './lib/page-reporting.js';
import { startNatsServer } from './lib/nats.js';
import { CLI } from './lib/p2p.js';
import { killAllNow } from './lib/procs.js';
import { formatTable, skippedRow, writeResults, type CaseResult } from './lib/report.js';
import { Scope } from './lib/scope.js';
import { GiB, MiB } from './lib/stats.js';

const CASES: BenchCase[] = [startup, tcpLimit, verifiedCopy, download1to1, download3to1, swarm1to4, peerRss, trackerLoad, trackerRestart, trackerKv, lanSwarm, ...externalCases, lanExternal];

const USAGE = `usage: npm run bench -- [options]   (or: node dist/bench/run.js [options], after npm run build)

Runs every case on loopback (and the LAN lab as root) against baselines measured in the same run,
prints a table and writes the rows as JSON. bench/README.md explains every row.

  --quick            shorter windows and one run per case (a smoke run, not for figures)
  --reps N           runs per case, 1 to 20 (3)
  --only A,B         only the cases or rows whose name starts with one of these
                     (A$: the row named A alone, e.g. lan-swarm$ without its variants)
  --skip-external    leave out aria2, transmission and webtorrent
  --scratch DIR      where test files and run folders go (\${TMPDIR}/p2p-bench)
  --out FILE         where the JSON goes (bench/results/latest.json)
  --keep             keep the test files afterwards
  -h, --help         this text

cases (rows):
`;

/** The usage text with every case and its rows. */
function usage(): string {
  return USAGE + CASES.map((c) => `  ${c.name}${c.rows && c.rows.join() !== c.name ? ` (${c.rows.join(', ')})` : ''}${c.external ? ' [external]' : ''}`).join('\n') + '\n';
}

/** The options, or null when --help asked for the usage text. Throws on a bad value. */
function options(): BenchOptions | null {
  const { values } = parseArgs({
    options: {
      help: { type: 'boolean', short: 'h', default: false },
      quick: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      only: { type: 'string' },
      'skip-external': { type: 'boolean', default: false },
      reps: { type: 'string' },
      scratch: { type: 'string' },
      out: { type: 'string' },
    },
  });
  if (values.help) return null;
  const reps = values.reps ? Number(values.reps) : 3;
  if (!Number.isInteger(reps) || reps < 1 || reps > 20) throw new Error('--reps must be an integer from 1 to 20');
  const quick = values.quick ?? false;
  const only = values.only ? values.only.split(',').map((s) => s.trim()).filter(Boolean) : [];
  const names = CASES.flatMap((c) => [c.name, ...(c.rows ?? [])]);
  const unknown = only.filter((o) => !names.some((n) => onlyMatches(o, n)));
  if (unknown.length) throw new Error(`--only ${unknown.join(', ')}: no case or row starts with that, or is named so with a trailing $ (npm run bench -- --help lists them)`);
  return {
    quick,
    keep: values.keep ?? false,
    reps,
    externalReps: quick ? 1 : reps,
    only,
    skipExternal: values['skip-external'] ?? false,
    scratch: values.scratch ?? join(tmpdir(), 'p2p-bench'),
    toolsDir: join(tmpdir(), 'p2p-bench-tools'),
    out: values.out ?? fileURLToPath(new URL('../../bench/results/latest.json', import.meta.url)),
  };
}

function selected(c: BenchCase, opts: BenchOptions): boolean {
  if (c.external && opts.skipExternal) return false;
  if (opts.only.length === 0) return true;
  const names = [c.name, ...(c.rows ?? [])];
  return opts.only.some((o) => names.some((n) => onlyMatches(o, n)));
}

function testFiles(opts: BenchOptions): TestFiles & { removeAll(): Promise<void> } {
  const memo = new Map<string, Promise<string>>();
  const file = (name: string, size: number) => {
    if (!memo.has(name)) memo.set(name, ensureDataFile(opts.scratch, name, size));
    return memo.get(name)!;
  };
  return {
    big: () => file('bench-1GiB.bin', GiB),
    swarm: () => (opts.quick ? file('bench-swarm-64MiB.bin', 64 * MiB) : file('bench-swarm-256MiB.bin', 256 * MiB)),
    huge: () => (opts.quick ? file('bench-1GiB.bin', GiB) : file('bench-4GiB.bin', 4 * GiB)),
    removeAll: async () => {
      for (const name of memo.keys()) {
        for (const f of [name, `${name}.complete`]) await rm(join(opts.scratch, f), { force: true });
      }
      await rmdir(opts.scratch).catch(() => undefined); // only when nothing else is left in it
    },
  };
}

/** Run one case in its own scope under its time box; a failure becomes a row, never a crash. */
async function runCase(ctx: BenchContext, c: BenchCase): Promise<CaseResult[]> {
  const scope = new Scope(ctx.scope);
  const started = Date.now();
  const limit = c.timeoutMs?.(ctx.opts) ?? (ctx.opts.quick ? 120_000 : 900_000);
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${Math.round(limit / 1000)} s`)), limit);
    });
    return await Promise.race([c.run({ ...ctx, scope }), timeout]);
  } catch (err) {
    const message = (err as Error).message.split('\n')[0]!;
    ctx.log(`${c.name} failed: ${(err as Error).message}`);
    return (c.rows ?? [c.name]).map((name) => skippedRow(name, '-', `failed: ${message}`));
  } finally {
    clearTimeout(timer);
    await scope.close();
    ctx.log(`${c.name}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
}

async function main(): Promise<number> {
  const opts = options();
  if (!opts) {
    process.stdout.write(usage());
    return 0;
  }
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build\` first (npm run bench does)`);
  const scope = new Scope();
  const log = (m: string) => process.stderr.write(`bench: ${m}\n`);
  process.once('exit', () => killAllNow(scope.pids));
  let interrupted = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (interrupted) process.exit(130);
    interrupted = true;
    log(`${sig}: stopping every child process and removing temp folders…`);
    void scope.close().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const started = Date.now();
  try {
    await mkdir(opts.scratch, { recursive: true });
    const files = testFiles(opts);
    // only what the bench made: --scratch may name a folder that holds other things
    if (!opts.keep) scope.defer(() => files.removeAll());
    const work = await mkdtemp(join(opts.scratch, 'run-'));
    scope.defer(() => rm(work, { recursive: true, force: true }));
    const reported0 = reportedKib();
    const nats = await startNatsServer(scope);
    const ctx: BenchContext = {
      opts,
      startedAt: started,
      scope,
      nats,
      machine: machineInfo(nats.version, opts.quick),
      work,
      results: new Map(),
      shared: new Map(),
      files,
      log,
    };
    log(`${opts.quick ? 'quick' : 'full'} run, ${opts.reps} run(s) per case; scratch ${opts.scratch}; nats-server at ${nats.url}`);
    const rows: CaseResult[] = [];
    for (const c of CASES.filter((x) => selected(x, opts))) {
      if (interrupted) break;
      log(`── ${c.name}`);
      for (const row of await runCase(ctx, c)) {
        rows.push(row);
        ctx.results.set(row.name, row);
      }
    }
    if (interrupted) return 130; // no half-measured results over the last good ones
    process.stdout.write('\n' + formatTable(rows) + '\n');
    ctx.machine.date = new Date(started).toISOString();
    ctx.machine.freePagesReportedGiB = reportedGiB(reported0, reportedKib());
    if (ctx.machine.freePagesReportedGiB !== undefined) {
      log(`memory: the VM handed ${ctx.machine.freePagesReportedGiB} GiB of free memory back to its host during the run; new files paid its first touches (bench/README.md)`);
    }
    writeResults(opts.out, { ...ctx.machine, seconds: Math.round((Date.now() - started) / 1000) }, rows);
    log(`wrote ${opts.out}; ${((Date.now() - started) / 1000).toFixed(0)} s in all`);
    return 0;
  } finally {
    await scope.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    const hint = (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') ? ' (npm run bench -- --help lists the options)' : '';
    process.stderr.write(`bench: ${err.message}${hint}\n`);
    process.exit(1);
  },
);
