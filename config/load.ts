// Loading the configuration without zod: config/default.json, then a JSON file (--config or
// P2P_CONFIG), then env `P2P_<SECTION>_<KEY>` (e.g. P2P_NATS_URL, P2P_TRACKER_TTL_MS), then flags,
// layered here and checked against RULES, a zod-free mirror of ConfigSchema (index.ts). zod and
// the schema cost a CLI command ~100 ms to load (issue 10, bench `startup-*`), so only a value the
// rules refuse loads them, to name the key and where it came from (or accept it after all:
// the rules may be stricter than the schema, never looser — test/unit/config-rules.test.ts).
import { readFileSync } from 'node:fs';
import defaults from './default.json' with { type: 'json' };
import { ConfigError } from '../src/errors.js';
import { parseBytes } from '../src/units.js';
import type { Config } from './index.js';

export type Json = { [k: string]: unknown };

export function isObject(v: unknown): v is Json {
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

/** The layers, merged but not yet validated, and where each came from (for error messages). */
export interface Layered {
  value: Json;
  file?: string;
  fromFile: Json;
  env: NodeJS.ProcessEnv;
  overrides?: Json;
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

/** Read and merge every layer; warns about unknown keys of the file. ConfigError if the file is unreadable. */
export function layer(opts: LoadOptions = {}): Layered {
  const env = opts.env ?? process.env;
  let value: Json = defaults as Json;
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
    value = merge(value, parsed);
  }
  value = merge(value, fromEnv(defaults as Json, env));
  if (opts.overrides) value = merge(value, opts.overrides);
  return { value, file, fromFile, env, overrides: opts.overrides };
}

// ---- the rules: ConfigSchema's, leaf by leaf ------------------------------------------------

type Rule = (v: unknown) => { value: unknown } | undefined;
type Rules = { [k: string]: Rule | Rules };

const str: Rule = (v) => (typeof v === 'string' ? { value: v } : undefined);
const nonEmpty: Rule = (v) => (typeof v === 'string' && v.length > 0 ? { value: v } : undefined);
const pattern = (re: RegExp): Rule => (v) => (typeof v === 'string' && re.test(v) ? { value: v } : undefined);
const oneOf = (...values: string[]): Rule => (v) => (typeof v === 'string' && values.includes(v) ? { value: v } : undefined);
/** zod's coerce.number().int(): a number, or a string of decimal digits (what Number() reads the same). */
const int = (min: number, max: number): Rule => (v) => {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^-?\d{1,16}$/.test(v) ? Number(v) : undefined;
  return n !== undefined && Number.isSafeInteger(n) && n >= min && n <= max ? { value: n } : undefined;
};
const ms = int(1, 86_400_000);
/** bytes per second: `20M`, `512K` or a number, as the schema's preprocess reads them */
const bps: Rule = (v) => {
  const n = typeof v === 'string' || typeof v === 'number' ? (parseBytes(v) ?? v) : v;
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? { value: n } : undefined;
};
const DOTTED = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

export const RULES: Rules = {
  nats: {
    url: nonEmpty,
    token: str,
    user: str,
    pass: str,
    credsFile: str,
    nkeySeedFile: str,
    inboxPrefix: pattern(/^$|^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/),
    tls: { ca: str, cert: str, key: str },
  },
  prefix: pattern(DOTTED),
  logLevel: oneOf('error', 'warn', 'info', 'debug', 'silent'),
  tracker: { ttlMs: ms, sweepMs: ms, store: oneOf('memory', 'kv'), kvReplicas: int(1, 5), dataDir: str },
  peer: {
    default: pattern(/^$|^[A-Za-z0-9_-]{1,64}$/),
    host: str,
    port: int(0, 65535),
    heartbeatMs: ms,
    rescanMs: ms,
    minChunkSize: int(1024, 64 * 1024 * 1024),
    largeFileSize: int(0, Number.MAX_SAFE_INTEGER),
    maxChunks: int(1, 100_000),
    maxConnections: int(1, 100_000),
    maxConnectionsPerAddress: int(1, 100_000),
    idleTimeoutMs: ms,
    frameTimeoutMs: ms,
    swarmKeyFile: str,
    swarmKey: str,
    tls: { cert: str, key: str, ca: str },
    uploadBps: bps,
    downloadBps: bps,
    uploadSlots: int(0, 100_000),
    maxDownloads: int(1, 10_000),
    maxQueuedDownloads: int(0, 1_000_000),
  },
  download: {
    retryBaseMs: ms,
    retryMaxMs: ms,
    maxRetries: int(0, 1_000_000),
    pipeline: int(1, 64),
    neighbourInFlightBytes: int(1, 1024 * 1024 * 1024),
    tailPercent: int(0, 100),
    syncEveryBytes: int(0, Number.MAX_SAFE_INTEGER),
    seederReliefChunks: int(0, 64),
    chunkTimeoutMs: ms,
    maxStrikes: int(1, 100),
    progressMs: ms,
  },
  dashboard: { host: nonEmpty, port: int(0, 65535), token: str },
};

/** `value` through `rules`: a fresh object of the rules' keys only, or undefined when one fails. */
export function checkRules(rules: Rules, value: unknown): Json | undefined {
  if (!isObject(value)) return undefined;
  const out: Json = {};
  for (const [k, rule] of Object.entries(rules)) {
    const got = typeof rule === 'function' ? rule(value[k]) : wrap(checkRules(rule, value[k]));
    if (!got) return undefined;
    out[k] = got.value;
  }
  return out;
}
const wrap = (v: Json | undefined) => (v ? { value: v } : undefined);

/**
 * Load, layer and validate the configuration: the rules, and zod only for a value they refuse
 * (which then throws ConfigError naming the key and its source, as loadConfig does).
 */
export async function loadConfigLight(opts: LoadOptions = {}): Promise<Config> {
  const layered = layer(opts);
  const checked = checkRules(RULES, layered.value);
  if (checked) return checked as Config;
  const { validate } = await import('./index.js');
  return validate(layered);
}
