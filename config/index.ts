// Typed configuration: the schema (the type of Config is derived from it) and its validation with
// the error naming the key and where the value came from. Layering (default.json, file, env,
// flags) and the zod-free check the CLI uses live in load.ts.
import { z } from 'zod';
import { ConfigError } from '../src/errors.js';
import { parseBytes } from '../src/units.js';
import { envName, isObject, layer, type Layered, type LoadOptions } from './load.js';

export { envName, type LoadOptions };

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
    /** files this size or larger get chunks twice minChunkSize; 0: never */
    largeFileSize: z.coerce.number().int().min(0),
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
    neighbourInFlightBytes: z.coerce.number().int().min(1).max(1024 * 1024 * 1024),
    tailPercent: z.coerce.number().int().min(0).max(100),
    /** a background fdatasync of the part file each time this many bytes were written since the last (0: only at the end) */
    syncEveryBytes: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    seederReliefChunks: z.coerce.number().int().min(0).max(64),
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

/** Validate layered config with the schema. Throws ConfigError with the offending key and its source. */
export function validate(layered: Layered): Config {
  const { value, env, fromFile, file, overrides } = layered;
  const result = ConfigSchema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    const key = issue.path.join('.');
    const variable = envName(issue.path.map(String));
    // name where the bad value came from: a flag, the environment, the config file (or the defaults)
    const where = has(overrides, issue.path)
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

function has(value: unknown, path: PropertyKey[]): boolean {
  let v = value;
  for (const p of path) {
    if (!isObject(v) || !(String(p) in v)) return false;
    v = v[String(p)];
  }
  return true;
}

/** Load, layer and validate the configuration with zod (daemons, tests). Throws ConfigError with the offending key. */
export function loadConfig(opts: LoadOptions = {}): Config {
  return validate(layer(opts));
}
