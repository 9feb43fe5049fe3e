// What every `p2p` command shares that is cheap to load: exit codes, flag parsers, number and
// time formats, colour, tables and the action wrapper. No bus, schemas or logger here: command
// definitions import this module at start-up (see main.ts), so it must stay light.
import { InvalidArgumentError } from 'commander';
import { P2PError, toP2PError, type ErrorCode } from '../errors.js';
import { parseBytes } from '../units.js';
import { isToken } from '../protocol/ids.js';

/** Options every command accepts (declared on the root program). */
export interface GlobalOptions {
  nats?: string;
  server?: string;
  natsUser?: string;
  natsPass?: string;
  natsToken?: string;
  natsCreds?: string;
  natsNkey?: string;
  natsCa?: string;
  natsCert?: string;
  natsKey?: string;
  prefix?: string;
  config?: string;
  logLevel?: string;
  color?: boolean;
}

/** Exit codes: the one table, documented in the README and enforced by test/e2e/cli-*.test.ts. */
export const ExitCode = {
  ok: 0,
  /** a download failed or was cancelled; `cancel` found nothing running; any other failure */
  failed: 1,
  /** bad usage or configuration: unknown command or option, bad value, bad config file */
  usage: 2,
  /** not found: a file not in the swarm by the deadline, an unknown download, no tracker */
  notFound: 3,
  /** nobody answers on that peer id */
  unknownPeer: 4,
  /** the NATS broker cannot be reached or refused us */
  broker: 5,
  /** `p2p peer`: the peer id is bound to another key at the tracker (another peer holds it) */
  idTaken: 6,
  /** interrupted (Ctrl-C) */
  interrupted: 130,
} as const;

const exitByCode: Partial<Record<ErrorCode, number>> = {
  BAD_REQUEST: ExitCode.usage,
  CONFIG_ERROR: ExitCode.usage,
  UNSAFE_NAME: ExitCode.usage,
  NOT_FOUND: ExitCode.notFound,
  TIMEOUT: ExitCode.notFound,
  UNKNOWN_PEER: ExitCode.unknownPeer,
  BROKER_UNAVAILABLE: ExitCode.broker,
  AUTH_FAILED: ExitCode.broker,
  PERMISSION_DENIED: ExitCode.broker,
  ID_TAKEN: ExitCode.idTaken,
};

/** The exit code for an error; every code not listed (RETRIES_EXHAUSTED, CANCELLED, …) is 1. */
export function exitCodeFor(err: P2PError): number {
  return exitByCode[err.code] ?? ExitCode.failed;
}

/** Run a command body; print one clear line and exit non-zero on failure. */
export function action<A extends unknown[]>(body: (...args: A) => Promise<number | void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      const code = await body(...args);
      process.exitCode = code ?? 0;
    } catch (err) {
      const e = toP2PError(err);
      process.stderr.write(`${paint.red('p2p:')} ${e.message}${e.code !== 'INTERNAL' ? ` [${e.code}]` : ''}\n`);
      if (process.env.P2P_DEBUG && err instanceof Error && err.stack) process.stderr.write(err.stack + '\n');
      process.exitCode = exitCodeFor(e);
    }
  };
}

/** Parse an integer flag or throw a usage error. */
export function intOption(name: string, min = 0, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${name} must be an integer between ${min} and ${max}`);
    }
    return n;
  };
}

/** A bytes-per-second flag: `20M`, `512K`, `1048576` (K = 1024), 0 = unlimited. */
export function rateOption(name: string): (value: string) => number {
  return (value: string) => {
    const n = parseBytes(value);
    if (n === undefined) throw new InvalidArgumentError(`${name} must be bytes per second, e.g. 20M, 512K or 1048576 (0 = unlimited)`);
    return n;
  };
}

/** A peer id flag (it becomes a NATS subject token). */
export function peerIdOption(value: string): string {
  if (!isToken(value)) throw new InvalidArgumentError('a peer id is 1-64 characters of A-Z a-z 0-9 _ -');
  return value;
}

/** Human size: 1536 → "1.5 KiB". */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(v >= 100 ? 0 : 1)} ${units[i]}`;
}

/** Human duration: 0.4 → "0.4s", 75 → "1m15s", 4000 → "1h06m". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  if (seconds < 10) return `${seconds.toFixed(1)}s`;
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** Seconds left at this rate, or undefined when it cannot be told. */
export function etaSeconds(bytes: number, totalBytes: number, rateBps: number): number | undefined {
  if (!totalBytes || rateBps <= 0 || bytes >= totalBytes) return undefined;
  return (totalBytes - bytes) / rateBps;
}

/** Colour for a terminal: off when not a TTY, with NO_COLOR set, or with --no-color. */
export function colorOn(stream: NodeJS.WriteStream): boolean {
  if (process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '') return false;
  if (process.env.FORCE_COLOR && process.env.FORCE_COLOR !== '0') return true;
  return Boolean(stream.isTTY);
}

const sgr = (code: number, stream: NodeJS.WriteStream) => (s: string) => (colorOn(stream) ? `\x1b[${code}m${s}\x1b[0m` : s);
/** ANSI styles for stderr (messages) and stdout (tables); plain text when colour is off. */
export const paint = {
  red: sgr(31, process.stderr),
  green: sgr(32, process.stderr),
  yellow: sgr(33, process.stderr),
  dim: sgr(2, process.stderr),
  bold: (s: string) => sgr(1, process.stdout)(s),
};

/** Left-aligned columns, two spaces apart; the header bold on a colour terminal. */
export function printTable(head: string[], rows: string[][]): void {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  process.stdout.write(paint.bold(line(head)) + '\n');
  for (const r of rows) process.stdout.write(line(r) + '\n');
}

/** Run until SIGINT/SIGTERM, then `stop` once (a second signal exits at once). */
export function untilSignal(stop: () => Promise<void>, opts: { quiet?: boolean } = {}): Promise<void> {
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (sig: NodeJS.Signals) => {
      if (stopping) process.exit(130);
      stopping = true;
      if (!opts.quiet) process.stderr.write(`${sig}: stopping…\n`);
      stop().then(resolve, (err) => {
        process.stderr.write(`p2p: error while stopping: ${(err as Error).message}\n`);
        resolve();
      });
    };
    // on, not once: a second signal must reach the handler (exit at once), not kill us silently
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

/** Levenshtein distance (small strings: names and ids). */
export function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length]!;
}

/** Up to `max` candidates close to `word` (case-insensitive; a substring match counts as close). */
export function closest(word: string, candidates: Iterable<string>, max = 3): string[] {
  const w = word.toLowerCase();
  const scored: Array<[string, number]> = [];
  for (const c of new Set(candidates)) {
    const l = c.toLowerCase();
    if (l === w) continue;
    const d = l.includes(w) || w.includes(l) ? 1 : distance(w, l);
    if (d <= Math.max(2, Math.floor(w.length * 0.4))) scored.push([c, d]);
  }
  return scored.sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1)).slice(0, max).map(([c]) => c);
}
