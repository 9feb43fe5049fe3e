// A p2p swarm for one case: a tracker, seeders that keep their folders (and hash caches) for the
// whole run, and fresh downloaders, all real `p2p` processes on one private nats-server.
import { existsSync } from 'node:fs';
import { copyFile, link, mkdir, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { NatsConnection } from 'nats';
import type { BenchContext } from './context.js';
import { benchConnection, startPeer, startTracker, waitForSources, type Swarm } from './p2p.js';
import type { Proc } from './procs.js';
import type { Scope } from './scope.js';

export interface RunningSwarm {
  swarm: Swarm;
  nc: NatsConnection;
  /** the shared file's name, as downloaders ask for it */
  name: string;
  seeders: Proc[];
  /** the seeders' peer ids */
  seederIds: string[];
}

/** Hard-link (or copy) `file` into DIR/shared/ once; seeders keep their folder between cases. */
async function seedFolder(ctx: BenchContext, id: string, file: string): Promise<string> {
  const dir = join(ctx.work, 'seeds', id);
  const target = join(dir, 'shared', basename(file));
  if (!existsSync(target)) {
    await mkdir(join(dir, 'shared'), { recursive: true });
    await link(file, target).catch(() => copyFile(file, target));
  }
  return dir;
}

/**
 * Start a tracker and `seeders` peers sharing `file` (peer ids `${idPrefix}seedN-…`, reused between
 * cases so their hashes are cached; a prefix gives a swarm running beside another its own
 * folders) and wait until the tracker lists them all.
 */
export async function startSwarm(
  ctx: BenchContext,
  scope: Scope,
  tag: string,
  file: string,
  seeders: number,
  env: Record<string, string> = {},
  idPrefix = '',
): Promise<RunningSwarm> {
  const swarm: Swarm = { natsUrl: ctx.nats.url, prefix: `bench-${tag}-${process.pid}` };
  await startTracker(scope, swarm, join(ctx.work, `tracker-${tag}`));
  const nc = await benchConnection(scope, ctx.nats.url, `bench-${tag}`);
  const ids = Array.from({ length: seeders }, (_, i) => `${idPrefix}seed${i + 1}-${basename(file).replace(/[^A-Za-z0-9_-]/g, '_')}`);
  const dirs = await Promise.all(ids.map((id) => seedFolder(ctx, id, file)));
  const procs = await Promise.all(ids.map((id, i) => startPeer(scope, swarm, dirs[i]!, id, env)));
  const name = basename(file);
  await waitForSources(nc, swarm, name, seeders, 60_000);
  return { swarm, nc, name, seeders: procs, seederIds: ids };
}

/** A fresh downloader folder, removed (with its 1 GiB) when the scope closes. */
export async function downloaderFolder(ctx: BenchContext, scope: Scope, id: string): Promise<string> {
  const dir = join(ctx.work, 'dl', id);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  scope.defer(() => rm(dir, { recursive: true, force: true }));
  return dir;
}
