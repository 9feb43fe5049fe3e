// Child processes for the benchmark: long-running ones (peers, trackers, seeders) with their
// output kept in a small ring and a waitFor(line) latch, and one-shot commands run to the end
// under a time limit. Each child leads its own process group, so stop() takes its subtree too.
import { spawn, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import type { Scope } from './scope.js';

const KEEP_LINES = 200;
const STOP_GRACE_MS = 5000;
const MAX_CAPTURE = 8 * 1024 * 1024;

export interface SpawnOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** echo every output line to stderr with this label (debugging: BENCH_VERBOSE=1) */
  label?: string;
  /** called with every output line as it arrives (the ring keeps only the last ones) */
  onLine?: (line: string) => void;
}

/** A long-running child. */
export interface Proc {
  child: ChildProcess;
  pid: number;
  /** the last output lines (stdout and stderr) */
  lines: string[];
  /** resolves with the first line matching `re` (seen already or later); rejects on exit or timeout */
  waitFor(re: RegExp, timeoutMs: number): Promise<string>;
  exited: Promise<number | null>;
  /** SIGTERM the group, SIGKILL after a grace period; resolves once the child is gone */
  stop(): Promise<void>;
  /** the tail of the output, for error messages */
  tail(n?: number): string;
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}

/** Start a long-running child, registered in `scope` (stopped when it closes). */
export function spawnProc(scope: Scope, cmd: string, args: string[], opts: SpawnOptions = {}): Proc {
  const child = spawn(cmd, args, {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const lines: string[] = [];
  const waiters: Array<{ re: RegExp; resolve: (line: string) => void }> = [];
  const verbose = Boolean(process.env.BENCH_VERBOSE);
  const onLine = (line: string) => {
    opts.onLine?.(line);
    lines.push(line);
    if (lines.length > KEEP_LINES) lines.shift();
    if (verbose) process.stderr.write(`[${opts.label ?? cmd}] ${line}\n`);
    for (const w of [...waiters]) {
      if (w.re.test(line)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  };
  for (const stream of [child.stdout!, child.stderr!]) {
    let rest = '';
    stream.setEncoding('utf8');
    stream.on('data', (text: string) => {
      const parts = (rest + text).split(/\r?\n|\r/);
      rest = parts.pop() ?? '';
      if (rest.length > 64 * 1024) rest = rest.slice(-64 * 1024);
      for (const p of parts) if (p) onLine(p);
    });
  }
  let spawnError: Error | undefined;
  const exited = new Promise<number | null>((resolve) => {
    child.once('error', (err) => {
      spawnError = err;
      resolve(null);
    });
    child.once('exit', (code) => resolve(code));
  });
  if (child.pid !== undefined) scope.pids.add(child.pid);
  void exited.then(() => child.pid !== undefined && scope.pids.delete(child.pid));
  const tail = (n = 20) => lines.slice(-n).join('\n');
  const waitFor = (re: RegExp, timeoutMs: number) => {
    const seen = lines.find((l) => re.test(l));
    if (seen) return Promise.resolve(seen);
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${opts.label ?? cmd}: no line matching ${re} within ${timeoutMs} ms; output:\n${tail()}`)), timeoutMs);
      waiters.push({
        re,
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
      });
      void exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`${opts.label ?? cmd} exited (${spawnError?.message ?? `code ${code}`}) before ${re}; output:\n${tail()}`));
      });
    });
  };
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null || spawnError) return;
    killGroup(child, 'SIGTERM');
    const timer = setTimeout(() => killGroup(child, 'SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
    // whatever the leader left behind in its group
    killGroup(child, 'SIGKILL');
  };
  scope.defer(stop);
  return { child, pid: child.pid ?? -1, lines, waitFor, exited, stop, tail };
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** wall time from spawn to exit, ms */
  ms: number;
  timedOut: boolean;
  error?: string;
}

/** Run a command to completion; killed (with its group) after `timeoutMs`. */
export function runProc(
  scope: Scope,
  cmd: string,
  args: string[],
  opts: SpawnOptions & { timeoutMs: number },
): Promise<RunResult> {
  return new Promise((resolve) => {
    const started = performance.now();
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      if (stdout.length < MAX_CAPTURE) stdout += d;
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < MAX_CAPTURE) stderr += d;
    });
    if (child.pid !== undefined) scope.pids.add(child.pid);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child, 'SIGKILL');
    }, opts.timeoutMs);
    const kill = () => killGroup(child, 'SIGKILL');
    scope.defer(kill);
    let done = false;
    const finish = (code: number | null, error?: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (child.pid !== undefined) scope.pids.delete(child.pid);
      resolve({ code, stdout, stderr, ms: performance.now() - started, timedOut, error });
    };
    child.once('error', (err) => finish(null, err.message));
    child.once('close', (code) => finish(code));
  });
}

/** Kill every child still alive, synchronously (process 'exit' handler). */
export function killAllNow(pids: Set<number>): void {
  for (const pid of pids) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
  pids.clear();
}
