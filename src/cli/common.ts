// What the `p2p` commands that talk to the bus share: layered config from flags, the NATS
// connection, the default peer and the daemon lifecycle. Heavy (nats, zod): command modules
// import it inside their actions; the light helpers live in ./args.js.
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import type { Logger } from 'winston';
import { credsAuthenticator, nkeyAuthenticator, type ConnectionOptions, type NatsConnection } from 'nats';
import type { Config } from '../../config/index.js';
import { loadConfigLight } from '../../config/load.js';
import { BadRequestError, ConfigError, NotFoundError, P2PError, UnknownPeerError } from '../errors.js';
import { connectBus, request } from '../transport/bus.js';
import { closeBus } from '../transport/bus-close.js';
import { peerStatus as pagedStatus } from '../transport/peer-status.js';
import type { DownloadInfo, ListEntry, StatusReply } from '../protocol/messages.js';
import { Light } from '../protocol/checked-replies.js';
import { subjects, type Subjects } from '../protocol/subjects.js';
import { closest, untilSignal, type GlobalOptions } from './args.js';
import { PROTOCOL_VERSION, isToken } from '../protocol/ids.js';

// the light helpers, for commands that import everything from here
export { ExitCode, action, exitCodeFor, formatBytes, intOption, printTable, untilSignal, type GlobalOptions } from './args.js';

/**
 * A broker URL list as people type it: `nats://host:port`, `tls://…`, `ws://…`, `host:port`,
 * comma-separated. Anything else is a usage error (not a DNS lookup of "garbage").
 */
export function checkNatsUrl(url: string, from: string): string {
  for (const part of url.split(',').map((s) => s.trim())) {
    const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(part) ? part : `nats://${part}`;
    let u: URL | undefined;
    try {
      u = new URL(withScheme);
    } catch {
      u = undefined;
    }
    const schemeOk = u && ['nats:', 'tls:', 'ws:', 'wss:'].includes(u.protocol);
    const hasPort = u && (u.port !== '' || withScheme === part); // HOST alone is not a URL: say HOST:PORT
    if (!u || !schemeOk || !u.hostname || !hasPort || (u.pathname !== '' && u.pathname !== '/')) {
      throw new BadRequestError(`${from} ${JSON.stringify(part)} is not a NATS URL: write nats://HOST:PORT (or HOST:PORT; several comma-separated)`);
    }
  }
  return url;
}

/**
 * Build the config from file → env → flags. The NATS URL: --nats or -s/--server, else
 * P2P_NATS_URL, else NATS_URL (the `nats` CLI's variable), else the config file, else the default.
 */
export async function configFrom(cmd: Command, overrides: Record<string, unknown> = {}): Promise<Config> {
  const g = cmd.optsWithGlobals<GlobalOptions>();
  const over: Record<string, unknown> = { ...overrides };
  const nats: Record<string, unknown> = {};
  const flagUrl = g.nats ?? g.server;
  if (flagUrl) nats.url = checkNatsUrl(flagUrl, g.nats ? '--nats' : '--server');
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
  const env = { ...process.env };
  if (!env.P2P_NATS_URL && env.NATS_URL) env.P2P_NATS_URL = env.NATS_URL;
  if (!env.P2P_PEER_DEFAULT && env.P2P_PEER) env.P2P_PEER_DEFAULT = env.P2P_PEER;
  const config = await loadConfigLight({ file: g.config, overrides: over, env });
  if (!flagUrl) checkNatsUrl(config.nats.url, process.env.P2P_NATS_URL ? 'P2P_NATS_URL' : env.P2P_NATS_URL ? 'NATS_URL' : 'nats.url');
  return config;
}

/** The peer a command talks to: --peer, else P2P_PEER / peer.default; a usage error when none. */
export function peerFrom(flag: string | undefined, config: Config): string {
  const id = flag ?? (config.peer.default || undefined);
  if (!id) throw new BadRequestError("required option '--peer <id>' not specified (or set a default peer: env P2P_PEER or peer.default in a config file)");
  if (!isToken(id)) throw new BadRequestError(`bad peer id ${JSON.stringify(id)}: 1-64 characters of A-Z a-z 0-9 _ -`);
  return id;
}

/** "nobody answers as this peer", naming where we looked. */
export function noPeer(peer: string, config: Config): () => P2PError {
  return () => new UnknownPeerError(`no running peer with id "${peer}" answers under prefix ${config.prefix} on ${config.nats.url} (start it with \`p2p peer --dir DIR --id ${peer}\`)`);
}

/** "no tracker answers", naming the prefix and the broker. */
export function noTracker(config: Config): () => P2PError {
  return () => new P2PError('NOT_FOUND', `no tracker is answering under prefix ${config.prefix} on ${config.nats.url} (start one with \`p2p tracker\`, or check --nats and --prefix)`);
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

/** Something with start() and an idempotent stop(): the tracker and peer actors. */
export interface Daemon {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The lifecycle of `p2p tracker` and `p2p peer`: start the actor (on failure, close everything so
 * nothing keeps the process alive, then rethrow), log that it is ready, run until SIGINT/SIGTERM,
 * then stop it, drain the connection (or close it, when the broker is gone) and flush the log.
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
  // the handler before the ready line: whoever waits for that line may signal us at once
  const stopped = untilSignal(async () => {
    await actor.stop();
    await closeBus(nc, logger.child({ actor: 'bus' }));
  });
  parts.ready();
  await stopped;
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

/** Every file the tracker knows, page by page. */
export async function listFiles(nc: NatsConnection, s: Subjects, config: Config, max = Infinity): Promise<{ files: ListEntry[]; total: number; peers: number }> {
  const files: ListEntry[] = [];
  let total = 0;
  let peers = 0;
  for (let offset = 0; (offset === 0 || offset < total) && files.length < max; ) {
    const page = await request(nc, s.list, { v: PROTOCOL_VERSION, offset, limit: 1000 }, Light.ListReply, { timeoutMs: 5000, who: 'tracker', noResponders: noTracker(config) });
    files.push(...page.files);
    total = page.total;
    peers = page.peers;
    if (page.files.length === 0) break;
    offset += page.files.length;
  }
  return { files, total, peers };
}

/** The peer's whole status (every page joined; src/transport/peer-status.ts), downloads newest last. */
export function peerStatus(nc: NatsConnection, s: Subjects, config: Config, peer: string, downloadId?: string): Promise<StatusReply> {
  return pagedStatus(nc, s, peer, { downloadId, timeoutMs: 5000, noResponders: noPeer(peer, config) });
}

/**
 * A download as people name it: its id, a file name (its latest download), or `last` (the
 * peer's latest download). NOT_FOUND when nothing matches.
 */
export async function resolveDownload(nc: NatsConnection, s: Subjects, config: Config, peer: string, ref: string): Promise<DownloadInfo> {
  const st = await peerStatus(nc, s, config, peer);
  const byTime = [...st.downloads].sort((a, b) => a.startedAt - b.startedAt);
  const found =
    ref === 'last'
      ? byTime[byTime.length - 1]
      : (byTime.find((d) => d.downloadId === ref) ?? byTime.filter((d) => d.name === ref || d.target === ref || d.fileId === ref).pop());
  if (found) return found;
  if (ref === 'last') throw new NotFoundError(`peer ${peer} has no downloads`);
  const names = byTime.map((d) => d.name ?? d.target);
  const hint = closest(ref, [...names, ...byTime.map((d) => d.downloadId)]);
  throw new NotFoundError(`peer ${peer} has no download "${ref}" (give a download id, a file name or \`last\`)${hint.length ? `; did you mean ${hint.join(' or ')}?` : ''}`);
}
