// What every case gets: the run's options, its scope, its nats-server, the shared test files
// and the rows measured so far (so a ratio is always taken against a baseline of the same run).
import { fileURLToPath } from 'node:url';
import type { MachineInfo } from './machine.js';
import type { NatsServer } from './nats.js';
import type { CaseResult } from './report.js';
import type { Scope } from './scope.js';

/** Options from the command line. */
export interface BenchOptions {
  quick: boolean;
  keep: boolean;
  /** runs per case (median reported) */
  reps: number;
  /** runs per external-tool row */
  externalReps: number;
  /** case names (or prefixes) to run; empty = all */
  only: string[];
  /** leave out the external tools (aria2, transmission, webtorrent) */
  skipExternal: boolean;
  /** where test files live (kept with --keep) */
  scratch: string;
  /** where external tools are installed (kept between runs) */
  toolsDir: string;
  /** results file */
  out: string;
}

export interface BenchContext {
  opts: BenchOptions;
  /** Date.now() when the run started */
  startedAt: number;
  scope: Scope;
  nats: NatsServer;
  machine: MachineInfo;
  /** per-run folder for peers and downloads, removed at the end */
  work: string;
  /** rows so far, by name */
  results: Map<string, CaseResult>;
  /** measurements one case leaves for another (e.g. peer RSS seen during download-1to1) */
  shared: Map<string, unknown>;
  /** test files, made on first use */
  files: TestFiles;
  log(message: string): void;
}

export interface TestFiles {
  /** 1 GiB random: tcp-limit, verified-copy, download cases, external tools */
  big(): Promise<string>;
  /** 256 MiB (64 MiB with --quick): swarm-1to4 */
  swarm(): Promise<string>;
  /** 4 GiB (1 GiB with --quick): peer-rss */
  huge(): Promise<string>;
}

/** A benchmark case: one or more rows. */
export interface BenchCase {
  name: string;
  /** the rows it reports, when not just `name` (for --only and for failure rows) */
  rows?: string[];
  /** time box for the whole case, ms (its processes are killed when it runs out) */
  timeoutMs?(opts: BenchOptions): number;
  /** an external-tool row (left out with --skip-external) */
  external?: boolean;
  run(ctx: BenchContext): Promise<CaseResult[]>;
}

/** A child program of the bench (dist/bench/procs/NAME.js). */
export function procScript(name: string): string {
  return fileURLToPath(new URL(`../procs/${name}.js`, import.meta.url));
}

/** The value of an earlier row, or null when it did not run or has no value. */
export function valueOf(ctx: BenchContext, name: string): number | null {
  return ctx.results.get(name)?.value ?? null;
}

/** Does an --only entry name `name`: a prefix of it, or with a trailing `$` the whole name (`lan-swarm$`: that row alone). */
export function onlyMatches(entry: string, name: string): boolean {
  return entry.endsWith('$') ? name === entry.slice(0, -1) : name.startsWith(entry);
}
