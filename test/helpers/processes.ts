// Real child processes for end-to-end tests: the built `p2p` CLI as tracker, peers and one-shot
// commands. Every process is killed in t.teardown, pass or fail.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import type { Teardown } from './scope.js';
import { tempDir } from './tmp.js';

/** The built CLI (npm test builds first). */
export const CLI = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));

/** Env for every child: short timers so tests are quick, quiet unless asked. */
export const FAST_ENV: Record<string, string> = {
  P2P_LOG_LEVEL: 'info',
  P2P_PEER_HEARTBEAT_MS: '1000',
  P2P_PEER_RESCAN_MS: '500',
  P2P_DOWNLOAD_RETRY_BASE_MS: '200',
  P2P_DOWNLOAD_RETRY_MAX_MS: '1000',
  P2P_DOWNLOAD_PROGRESS_MS: '200',
  P2P_TRACKER_TTL_MS: '4000',
  P2P_TRACKER_SWEEP_MS: '200',
};

export interface Daemon {
  child: ChildProcess;
  /** console lines seen so far */
  lines: string[];
  /** resolves with the first line matching re (rejects after timeoutMs or on exit) */
  waitFor(re: RegExp, timeoutMs?: number): Promise<string>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Start a long-running `p2p` command and wait until it prints `ready`. */
export async function startDaemon(
  t: Teardown,
  args: string[],
  opts: { ready: RegExp; env?: Record<string, string>; timeoutMs?: number },
): Promise<Daemon> {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, ...FAST_ENV, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const waiters: Array<{ re: RegExp; resolve: (l: string) => void }> = [];
  for (const stream of [child.stdout!, child.stderr!]) {
    createInterface({ input: stream }).on('line', (line) => {
      lines.push(line);
      if (process.env.P2P_TEST_VERBOSE) process.stderr.write(`[${args[0]}] ${line}\n`);
      for (const w of [...waiters]) {
        if (w.re.test(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    });
  }
  // if the test worker dies, take the child with it (one listener per child: raise the cap)
  process.setMaxListeners(Math.max(process.getMaxListeners(), 100));
  const onParentExit = () => child.kill('SIGKILL');
  process.once('exit', onParentExit);
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      process.removeListener('exit', onParentExit);
      resolve(code);
    }),
  );
  const waitFor = (re: RegExp, timeoutMs = 20_000) => {
    const seen = lines.find((l) => re.test(l));
    if (seen) return Promise.resolve(seen);
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${re} from ${args.join(' ')}; output:\n${lines.slice(-30).join('\n')}`)), timeoutMs);
      waiters.push({
        re,
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
      });
      void exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`${args.join(' ')} exited with ${code} before ${re}; output:\n${lines.slice(-30).join('\n')}`));
      });
    });
  };
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.kill(signal);
    const code = await exited;
    clearTimeout(killer);
    return code;
  };
  t.teardown(async () => {
    await stop();
  });
  await waitFor(opts.ready, opts.timeoutMs ?? 20_000);
  return { child, lines, waitFor, stop };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run a one-shot `p2p` command to completion (killed after timeoutMs). */
export function runCli(args: string[], opts: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, ...FAST_ENV, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    // 'close', not 'exit': the output may still be in the pipe when the process is gone
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The last line of stdout parsed as JSON. */
export function lastJson<T = Record<string, unknown>>(r: CliResult): T {
  const lines = r.stdout.trim().split('\n');
  try {
    return JSON.parse(lines[lines.length - 1]!) as T;
  } catch {
    throw new Error(`no JSON on the last line; code=${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  }
}

/** Every module file `node CLI ...args` loads (an ESM resolve hook prints them on stderr); the command must exit 0. */
export async function loadedFiles(t: Teardown & { is(a: unknown, b: unknown, m?: string): void }, args: string[]): Promise<string[]> {
  const dir = await tempDir(t, 'p2p-hooks-');
  await writeFile(
    join(dir, 'hooks.mjs'),
    "import { writeSync } from 'node:fs';\nexport async function resolve(s, c, next) { const r = await next(s, c); writeSync(2, 'LOADED ' + r.url + '\\n'); return r; }\n",
  );
  await writeFile(join(dir, 'register.mjs'), `import { register } from 'node:module';\nregister(${JSON.stringify('file://' + join(dir, 'hooks.mjs'))});\n`);
  const r = spawnSync(process.execPath, ['--import', join(dir, 'register.mjs'), CLI, ...args], { encoding: 'utf8', env: { ...process.env, ...FAST_ENV } });
  t.is(r.status, 0, r.stderr);
  return r.stderr
    .split('\n')
    .filter((l) => l.startsWith('LOADED file://'))
    .map((l) => l.slice('LOADED file://'.length));
}
