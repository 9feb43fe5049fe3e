// A private nats-server for one benchmark run: loopback only, a port chosen by the server,
// no JetStream (the swarm does not use it), stopped when the scope closes.
import { execFileSync } from 'node:child_process';
import { spawnProc } from './procs.js';
import type { Scope } from './scope.js';
import { findNatsServer } from '../../src/nats-server.js';

const LISTENING = /Listening for client connections on ([\d.]+):(\d+)/;


export { findNatsServer };

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
