// A private nats-server for one benchmark run: loopback only, a port chosen by the server,
// no JetStream (the swarm does not use it), stopped when the scope closes.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { spawnProc } from './procs.js';
import type { Scope } from './scope.js';

const LISTENING = /Listening for client connections on ([\d.]+):(\d+)/;

/** nats-server: env P2P_NATS_SERVER (a path), else PATH and Debian's /usr/sbin. */
export function findNatsServer(): string | undefined {
  const explicit = process.env.P2P_NATS_SERVER;
  if (explicit) return existsSync(explicit) ? explicit : undefined;
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin', '/usr/local/bin'];
  for (const d of dirs) {
    const p = join(d, 'nats-server');
    if (d && existsSync(p)) return p;
  }
  return undefined;
}

export interface NatsServer {
  url: string;
  version: string;
}

/** Start nats-server on 127.0.0.1 and a free port; throws with an install hint when missing. */
export async function startNatsServer(scope: Scope): Promise<NatsServer> {
  const bin = findNatsServer();
  if (!bin) throw new Error('nats-server is not installed: apt-get install -y nats-server (or set P2P_NATS_SERVER)');
  let version = 'unknown';
  try {
    version = execFileSync(bin, ['--version'], { encoding: 'utf8', timeout: 5000 }).trim();
  } catch {
    // keep 'unknown'
  }
  const proc = spawnProc(scope, bin, ['-a', '127.0.0.1', '-p', '-1'], { label: 'nats-server' });
  const line = await proc.waitFor(LISTENING, 10_000);
  const m = LISTENING.exec(line)!;
  return { url: `nats://${m[1]}:${m[2]}`, version };
}
