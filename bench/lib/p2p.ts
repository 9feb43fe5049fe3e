// The project under test, driven as a user would: the built `p2p` CLI as tracker, peers and
// `p2p get` child processes, plus a bench-side NATS connection to see what the tracker knows.
import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NatsConnection } from 'nats';
import { LookupReply, PROTOCOL_VERSION } from '../../src/protocol/messages.js';
import { subjects } from '../../src/protocol/subjects.js';
import { connectBus, request } from '../../src/transport/bus.js';
import { peerStatus } from '../../src/transport/peer-status.js';
import { runProc, spawnProc, type Proc } from './procs.js';
import type { Scope } from './scope.js';

/** The built CLI (dist/src/cli/main.js; `npm run bench` builds first). */
export const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

/** Where one swarm lives: its broker and subject prefix. */
export interface Swarm {
  natsUrl: string;
  prefix: string;
}

/**
 * Extra node flags for the tracker and peers, e.g. BENCH_P2P_NODE_ARGS="--cpu-prof" or
 * "--trace-gc" (node refuses those in NODE_OPTIONS): for profiling a case, not for results.
 */
export function nodeArgs(): string[] {
  return (process.env.BENCH_P2P_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
}

function common(swarm: Swarm): string[] {
  return ['--nats', swarm.natsUrl, '--prefix', swarm.prefix];
}

/** `p2p tracker`, resolved once it says it is ready. */
export async function startTracker(scope: Scope, swarm: Swarm, dir: string, env: Record<string, string> = {}, node: string[] = [], onLine?: (line: string) => void): Promise<Proc> {
  await mkdir(dir, { recursive: true });
  const proc = spawnProc(scope, process.execPath, [...nodeArgs(), ...node, CLI, 'tracker', '--log-file', join(dir, 'tracker.jsonl'), ...common(swarm)], {
    env,
    label: 'tracker',
    onLine,
  });
  await proc.waitFor(/tracker ready/, 15_000);
  return proc;
}

/** `p2p peer --dir DIR --id ID`, resolved once it has indexed shared/ and announced. */
export async function startPeer(scope: Scope, swarm: Swarm, dir: string, id: string, env: Record<string, string> = {}): Promise<Proc> {
  await mkdir(join(dir, 'shared'), { recursive: true });
  const proc = spawnProc(scope, process.execPath, [...nodeArgs(), CLI, 'peer', '--dir', dir, '--id', id, ...common(swarm)], { env, label: id });
  // a seeder hashes its files before it is ready: allow for 4 GiB on a slow disk
  await proc.waitFor(/peer ready/, 120_000);
  return proc;
}

/** What `p2p get --json` printed last, plus the wall time of the command. */
export interface GetResult {
  ok: boolean;
  /** spawn → exit of `p2p get`, ms */
  wallMs: number;
  /** intent → verified as the peer measured it, ms */
  peerMs: number | null;
  status: string;
  sources: number;
  error?: string;
}

/** `p2p get TARGET --peer ID --json`, killed after timeoutSec (+ a margin). */
export async function getFile(scope: Scope, swarm: Swarm, peerId: string, target: string, timeoutSec: number): Promise<GetResult> {
  const r = await runProc(scope, process.execPath, [CLI, 'get', target, '--peer', peerId, '--json', '-q', '--timeout', String(timeoutSec), ...common(swarm)], {
    timeoutMs: (timeoutSec + 15) * 1000,
  });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  let json: { status?: string; seconds?: number; sources?: number; error?: { message?: string } } = {};
  try {
    json = JSON.parse(last);
  } catch {
    // no JSON: reported below
  }
  const ok = r.code === 0 && json.status === 'done';
  return {
    ok,
    wallMs: r.ms,
    peerMs: typeof json.seconds === 'number' ? json.seconds * 1000 : null,
    status: json.status ?? (r.timedOut ? 'killed' : `exit ${r.code}`),
    sources: json.sources ?? 0,
    error: ok ? undefined : (json.error?.message ?? (r.stderr.trim().split('\n').pop() || r.error || 'no output')),
  };
}

/** Bytes a running peer's chunk server has sent so far (its status over the bus), or undefined. */
export async function servedBytes(nc: NatsConnection, swarm: Swarm, peerId: string): Promise<number | undefined> {
  try {
    return (await peerStatus(nc, subjects(swarm.prefix), peerId, { timeoutMs: 10_000 })).served.bytes;
  } catch {
    return undefined;
  }
}

/** A bench-side NATS client, closed with the scope. */
export async function benchConnection(scope: Scope, natsUrl: string, name: string): Promise<NatsConnection> {
  const nc = await connectBus({ url: natsUrl, name, reconnect: false, timeoutMs: 5000 });
  scope.defer(() => nc.close());
  return nc;
}

/** Wait until the tracker lists `name` with at least `count` sources. */
export async function waitForSources(nc: NatsConnection, swarm: Swarm, name: string, count: number, timeoutMs = 30_000): Promise<void> {
  const s = subjects(swarm.prefix);
  const deadline = Date.now() + timeoutMs;
  let seen = 0;
  while (Date.now() < deadline) {
    try {
      const reply = await request(nc, s.lookup, { v: PROTOCOL_VERSION, name }, LookupReply, { timeoutMs: 2000, who: 'tracker' });
      seen = reply.matches[0]?.sources.length ?? 0;
      if (seen >= count) return;
    } catch {
      // tracker not up yet: try again
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the tracker lists ${seen} source(s) for ${name} after ${timeoutMs} ms, expected ${count}`);
}

/**
 * Whether this build knows the per-peer upload cap (config key peer.uploadBps, env
 * P2P_PEER_UPLOAD_BPS). Unknown env keys are ignored by the config loader, so without it a
 * "capped" run would silently be uncapped.
 */
export function uploadCapSupported(): boolean {
  const file = fileURLToPath(new URL('../../config/default.json', import.meta.url));
  const src = fileURLToPath(new URL('../../../config/default.json', import.meta.url));
  for (const f of [file, src]) {
    if (!existsSync(f)) continue;
    try {
      const cfg = JSON.parse(readFileSync(f, 'utf8')) as { peer?: Record<string, unknown> };
      return cfg.peer !== undefined && 'uploadBps' in cfg.peer;
    } catch {
      return false;
    }
  }
  return false;
}
