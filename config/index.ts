// Typed configuration: config/default.json, then a JSON file (--config or P2P_CONFIG), then env
// `P2P_<SECTION>_<KEY>` (e.g. P2P_NATS_URL, P2P_TRACKER_TTL_MS), then flags. Validated once here.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import defaults from './default.json' with { type: 'json' };
import { ConfigError } from '../src/errors.js';
import { parseBytes } from '../src/units.js';

const Ms = z.coerce.number().int().min(1).max(86_400_000);
/** bytes per second, 0 = unlimited; `20M`, `512K` accepted (binary multiples) */
const Bps = z.preprocess(
  (v) => (typeof v === 'string' || typeof v === 'number' ? (parseBytes(v) ?? v) : v),
  z.number({ error: 'expected bytes per second, e.g. 20M, 512K or 1048576' }).int().min(0).max(Number.MAX_SAFE_INTEGER),
);

export const ConfigSchema = z.object({
  nats: z.object({
    url: z.string().min(1),
    token: z.string(),
    user: z.string(),
    pass: z.string(),
    /** a .creds file (JWT + NKey seed) */
    credsFile: z.string(),
    /** a file holding an NKey seed (SU…) */
    nkeySeedFile: z.string(),
    /** reply subjects prefix; default `_INBOX_<user>` with user auth, else `_INBOX` */
    inboxPrefix: z.string().regex(/^$|^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, 'inboxPrefix must be dot-separated tokens'),
    tls: z.object({ ca: z.string(), cert: z.string(), key: z.string() }),
  }),
  prefix: z.string().regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, 'prefix must be dot-separated tokens of [A-Za-z0-9_-]'),
  logLevel: z.enum(['error', 'warn', 'info', 'debug', 'silent']),
  tracker: z.object({
    ttlMs: Ms,
    sweepMs: Ms,
    /** memory: this process only (one tracker); kv: a JetStream KV bucket shared by every tracker instance */
    store: z.enum(['memory', 'kv']),
    /** replicas of the KV bucket (3 on a 3-node cluster) */
    kvReplicas: z.coerce.number().int().min(1).max(5),
    /** memory store: the folder its key bindings are saved in (bindings.json); empty: the --log-file's folder */
    dataDir: z.string(),
  }),
  peer: z.object({
    /** the peer `get`, `status`, `trace` and `cancel` talk to without --peer (env P2P_PEER too) */
    default: z.string().regex(/^$|^[A-Za-z0-9_-]{1,64}$/, 'a peer id is 1-64 characters of A-Z a-z 0-9 _ -'),
    host: z.string(),
    port: z.coerce.number().int().min(0).max(65535),
    heartbeatMs: Ms,
    rescanMs: Ms,
    minChunkSize: z.coerce.number().int().min(1024).max(64 * 1024 * 1024),
    maxChunks: z.coerce.number().int().min(1).max(100_000),
    maxConnections: z.coerce.number().int().min(1).max(100_000),
    /** chunk connections served at once from one remote address (more get BUSY) */
    maxConnectionsPerAddress: z.coerce.number().int().min(1).max(100_000),
    /** a chunk connection is closed when it has made no request for this long */
    idleTimeoutMs: Ms,
    /** a frame (or the handshake, or a new connection's first frame) must be complete within this */
    frameTimeoutMs: Ms,
    /** a file holding the swarm key (64 hex digits): chunk connections must prove it */
    swarmKeyFile: z.string(),
    /** the swarm key itself (prefer the file: env and config are easier to leak) */
    swarmKey: z.string(),
    /** TLS on chunk connections: cert + key make the chunk server a TLS server; ca (or cert) makes clients use TLS */
    tls: z.object({ cert: z.string(), key: z.string(), ca: z.string() }),
    /** upload cap in bytes/s shared by everyone we serve, 0 = unlimited */
    uploadBps: Bps,
    /** download cap in bytes/s over all our downloads, 0 = unlimited */
    downloadBps: Bps,
    /** downloaders served at once (more are told BUSY and retry), 0 = unlimited */
    uploadSlots: z.coerce.number().int().min(0).max(100_000),
    /** downloads doing I/O at once (manifest, part file, chunk sockets); the others wait their turn */
    maxDownloads: z.coerce.number().int().min(1).max(10_000),
    /** downloads kept beyond those (looking up, retrying, waiting for a slot); more intents get BUSY */
    maxQueuedDownloads: z.coerce.number().int().min(0).max(1_000_000),
  }),
  download: z.object({
    retryBaseMs: Ms,
    retryMaxMs: Ms,
    maxRetries: z.coerce.number().int().min(0).max(1_000_000),
    pipeline: z.coerce.number().int().min(1).max(64),
    chunkTimeoutMs: Ms,
    maxStrikes: z.coerce.number().int().min(1).max(100),
    progressMs: Ms,
  }),
  /** `p2p dashboard`: where it listens; a token is required with a non-loopback host (generated when empty) */
  dashboard: z.object({
    host: z.string().min(1),
    port: z.coerce.number().int().min(0).max(65535),
    token: z.string(),
  }),
});

/** The whole configuration, after every layer. */
export type Config = z.infer<typeof ConfigSchema>;

type Json = { [k: string]: unknown };

function isObject(v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function merge(base: Json, over: Json): Json {
  const out: Json = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (k === '__proto__' || k === 'constructor' || k === 'prototype') continue;
    out[k] = isObject(v) && isObject(base[k]) ? merge(base[k] as Json, v) : v;
  }
  return out;
}

/** `tracker.ttlMs` → `P2P_TRACKER_TTL_MS` */
export function envName(path: string[]): string {
  return 'P2P_' + path.map((p) => p.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('_');
}

function fromEnv(shape: Json, env: NodeJS.ProcessEnv, path: string[] = []): Json {
  const out: Json = {};
  for (const [k, v] of Object.entries(shape)) {
    if (isObject(v)) {
      const sub = fromEnv(v, env, [...path, k]);
      if (Object.keys(sub).length) out[k] = sub;
    } else {
      const value = env[envName([...path, k])];
      if (value !== undefined) out[k] = value;
    }
  }
  return out;
}

export interface LoadOptions {
  /** path of a JSON file layered over the defaults (else env P2P_CONFIG) */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** partial config from flags, applied last */
  overrides?: Json;
  /** told about keys of the config file that no setting has (default: a line on stderr) */
  warn?: (message: string) => void;
}

/** Dotted paths of `value`'s keys that `shape` does not have. */
function unknownKeys(value: Json, shape: Json, path: string[] = []): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(value)) {
    if (!(k in shape)) out.push([...path, k].join('.'));
    else if (isObject(v) && isObject(shape[k])) out.push(...unknownKeys(v, shape[k] as Json, [...path, k]));
  }
  return out;
}

function has(value: unknown, path: PropertyKey[]): boolean {
  let v = value;
  for (const p of path) {
    if (!isObject(v) || !(String(p) in v)) return false;
    v = v[String(p)];
  }
  return true;
}

/** Load, layer and validate the configuration. Throws ConfigError with the offending key. */
export function loadConfig(opts: LoadOptions = {}): Config {
  const env = opts.env ?? process.env;
  let layered: Json = defaults as Json;
  const file = opts.file ?? env.P2P_CONFIG;
  let fromFile: Json = {};
  if (file) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
    }
    if (!isObject(parsed)) throw new ConfigError(`config file ${file} must hold a JSON object`);
    fromFile = parsed;
    const unknown = unknownKeys(parsed, defaults as Json);
    if (unknown.length) {
      (opts.warn ?? ((m) => process.stderr.write(`p2p: ${m}\n`)))(`config file ${file}: unknown key${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} (ignored)`);
    }
    layered = merge(layered, parsed);
  }
  layered = merge(layered, fromEnv(defaults as Json, env));
  if (opts.overrides) layered = merge(layered, opts.overrides);
  const result = ConfigSchema.safeParse(layered);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const key = issue.path.join('.');
    const variable = envName(issue.path.map(String));
    // name where the bad value came from: a flag, the environment, the config file (or the defaults)
    const where = has(opts.overrides, issue.path)
      ? 'from the command line'
      : env[variable] !== undefined
        ? `(env ${variable})`
        : has(fromFile, issue.path)
          ? `in config file ${file}`
          : `(env ${variable})`;
    throw new ConfigError(`bad configuration ${key} ${where}: ${issue.message}`);
  }
  return result.data;
}
