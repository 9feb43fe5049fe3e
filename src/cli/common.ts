// What every `p2p` command shares: layered config from flags, the NATS connection, exit codes
// mapped from error codes in one place, and one clear line on failure.
import { InvalidArgumentError, type Command } from 'commander';
import { readFileSync } from 'node:fs';
import type { Logger } from 'winston';
import { credsAuthenticator, nkeyAuthenticator, type ConnectionOptions, type NatsConnection } from 'nats';
import { loadConfig, type Config } from '../../config/index.js';
import { ConfigError, P2PError, toP2PError, type ErrorCode } from '../errors.js';
import { connectBus } from '../transport/bus.js';
import { subjects, type Subjects } from '../protocol/subjects.js';

/** Options every command accepts (declared on the root program). */
export interface GlobalOptions {
  nats?: string;
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
}

/** Exit codes; documented in the README. */
export const ExitCode = {
  ok: 0,
  failed: 1,
  usage: 2,
  notFound: 3,
  unknownPeer: 4,
  broker: 5,
} as const;

const exitByCode: Partial<Record<ErrorCode, number>> = {
  BAD_REQUEST: ExitCode.usage,
  CONFIG_ERROR: ExitCode.usage,
  UNSAFE_NAME: ExitCode.usage,
  NOT_FOUND: ExitCode.notFound,
  TIMEOUT: ExitCode.notFound,
  RETRIES_EXHAUSTED: ExitCode.notFound,
  UNKNOWN_PEER: ExitCode.unknownPeer,
  BROKER_UNAVAILABLE: ExitCode.broker,
  AUTH_FAILED: ExitCode.broker,
  PERMISSION_DENIED: ExitCode.broker,
};

export function exitCodeFor(err: P2PError): number {
  return exitByCode[err.code] ?? ExitCode.failed;
}

/** Build the config from file → env → flags (NATS URL: --nats, else P2P_NATS_URL, else config). */
export function configFrom(cmd: Command, overrides: Record<string, unknown> = {}): Config {
  const g = cmd.optsWithGlobals<GlobalOptions>();
  const over: Record<string, unknown> = { ...overrides };
  const nats: Record<string, unknown> = {};
  if (g.nats) nats.url = g.nats;
  if (g.natsUser) nats.user = g.natsUser;
  if (g.natsPass) nats.pass = g.natsPass;
  if (g.natsToken) nats.token = g.natsToken;
  if (g.natsCreds) nats.credsFile = g.natsCreds;
  if (g.natsNkey) nats.nkeySeedFile = g.natsNkey;
  const tls: Record<string, unknown> = {};
  if (g.natsCa) tls.ca = g.natsCa;
  if (g.natsCert) tls.cert = g.natsCert;
  if (g.natsKey) tls.key = g.natsKey;
  if (Object.keys(tls).length) nats.tls = tls;
  if (Object.keys(nats).length) over.nats = nats;
  if (g.prefix) over.prefix = g.prefix;
  if (g.logLevel) over.logLevel = g.logLevel;
  return loadConfig({ file: g.config, overrides: over });
}

/** NATS connect options (credentials, TLS, inbox prefix) from config; unreadable files are ConfigErrors. */
export function natsAuth(config: Config): Partial<ConnectionOptions> {
  const n = config.nats;
  const extra: Partial<ConnectionOptions> = {};
  const read = (what: string, file: string) => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new ConfigError(`cannot read the NATS ${what} ${file}: ${(err as Error).message}`);
    }
  };
  if (n.token) extra.token = n.token;
  if (n.user) {
    extra.user = n.user;
    extra.pass = n.pass;
  }
  if (n.credsFile) extra.authenticator = credsAuthenticator(new Uint8Array(read('creds file', n.credsFile)));
  else if (n.nkeySeedFile) extra.authenticator = nkeyAuthenticator(new TextEncoder().encode(read('NKey seed file', n.nkeySeedFile).toString('utf8').trim()));
  if (n.tls.ca || n.tls.cert || n.tls.key) {
    if (Boolean(n.tls.cert) !== Boolean(n.tls.key)) throw new ConfigError('nats.tls.cert and nats.tls.key go together');
    for (const [what, file] of [['TLS CA', n.tls.ca], ['TLS certificate', n.tls.cert], ['TLS key', n.tls.key]] as const) if (file) read(what, file);
    extra.tls = { ...(n.tls.ca ? { caFile: n.tls.ca } : {}), ...(n.tls.cert ? { certFile: n.tls.cert, keyFile: n.tls.key } : {}) };
  }
  // with per-user permissions each user may only read its own replies: _INBOX_<user>.>
  const inbox = n.inboxPrefix || (n.user ? `_INBOX_${n.user}` : '');
  if (inbox) extra.inboxPrefix = inbox;
  return extra;
}

/** A short-lived client connection for CLI commands: fails fast with a clear message. */
export async function clientConnection(config: Config): Promise<{ nc: NatsConnection; subjects: Subjects }> {
  // the first connect fails fast; once connected, ride out a broker restart of up to a minute
  const nc = await connectBus({
    url: config.nats.url,
    name: 'p2p-cli',
    reconnect: true,
    timeoutMs: 3000,
    extra: { ...natsAuth(config), maxReconnectAttempts: 120, reconnectTimeWait: 500 },
  });
  return { nc, subjects: subjects(config.prefix) };
}

/** Run a command body; print one clear line and exit non-zero on failure. */
export function action<A extends unknown[]>(body: (...args: A) => Promise<number | void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      const code = await body(...args);
      process.exitCode = code ?? 0;
    } catch (err) {
      const e = toP2PError(err);
      process.stderr.write(`p2p: ${e.message}${e.code !== 'INTERNAL' ? ` [${e.code}]` : ''}\n`);
      if (process.env.P2P_DEBUG && err instanceof Error && err.stack) process.stderr.write(err.stack + '\n');
      process.exitCode = exitCodeFor(e);
    }
  };
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

/** Parse a positive integer flag or throw a usage error. */
export function intOption(name: string, min = 0, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${name} must be an integer between ${min} and ${max}`);
    }
    return n;
  };
}

/** Run until SIGINT/SIGTERM, then `stop` once (a second signal exits at once). */
export function untilSignal(stop: () => Promise<void>): Promise<void> {
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (sig: NodeJS.Signals) => {
      if (stopping) process.exit(130);
      stopping = true;
      process.stderr.write(`\n${sig}: stopping…\n`);
      stop().then(resolve, (err) => {
        process.stderr.write(`p2p: error while stopping: ${(err as Error).message}\n`);
        resolve();
      });
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
}

/** Something with start() and an idempotent stop(): the tracker and peer actors. */
export interface Daemon {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The lifecycle of `p2p tracker` and `p2p peer`: start the actor (on failure, close everything so
 * nothing keeps the process alive, then rethrow), log that it is ready, run until SIGINT/SIGTERM,
 * then stop it, drain the connection and flush the log.
 */
export async function runDaemon(
  actor: Daemon,
  parts: { nc: NatsConnection; logger: Logger; ready: () => void },
): Promise<void> {
  const { nc, logger } = parts;
  try {
    await actor.start();
  } catch (err) {
    await actor.stop().catch(() => undefined);
    await nc.close().catch(() => undefined);
    await closeLogger(logger);
    throw err;
  }
  parts.ready();
  await untilSignal(async () => {
    await actor.stop();
    await nc.drain().catch(() => undefined);
  });
  await closeLogger(logger);
}

/** Let winston flush its file before the process exits. */
export function closeLogger(logger: Logger): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, 1000);
    logger.on('finish', () => {
      clearTimeout(timer);
      resolve();
    });
    logger.end();
  });
}
