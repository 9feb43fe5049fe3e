// A local NATS cluster for `p2p up --cluster N`: N nats-server children on 127.0.0.1, each with
// its own client and route port, JetStream store and server name, all routed to each other.
// For machines of their own, use config/nats-cluster/ (see docs/scaling.md).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { P2PError } from '../errors.js';
import { findNatsServer } from '../nats-server.js';

export interface LocalCluster {
  children: ChildProcess[];
  /** nats://127.0.0.1:P1,nats://127.0.0.1:P2,… (what --nats takes) */
  urls: string;
}

/** A free TCP port on 127.0.0.1 (closed again at once; the server binds it right after). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Start `size` routed nats-server nodes with JetStream under `dir`; resolves once each is ready. */
export async function startLocalCluster(dir: string, size: number): Promise<LocalCluster> {
  const bin = findNatsServer();
  if (!bin) throw new P2PError('BROKER_UNAVAILABLE', 'nats-server is not installed: install it (Debian/Ubuntu: sudo apt-get install -y nats-server)');
  const ports: Array<{ client: number; route: number }> = [];
  for (let i = 0; i < size; i++) ports.push({ client: await freePort(), route: await freePort() });
  const children: ChildProcess[] = [];
  try {
    await Promise.all(
      ports.map((p, i) => {
        const name = `nats-${i + 1}`;
        const store = join(dir, name);
        mkdirSync(store, { recursive: true });
        const routes = ports.filter((_, j) => j !== i).map((q) => `nats-route://127.0.0.1:${q.route}`);
        const args = ['-a', '127.0.0.1', '-p', String(p.client), '-n', name, '-js', '-sd', store];
        args.push('--cluster_name', 'p2p-local', '--cluster', `nats://127.0.0.1:${p.route}`, '--routes', routes.join(','));
        const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
        children.push(child);
        return ready(child, name);
      }),
    );
  } catch (err) {
    for (const c of children) c.kill('SIGKILL');
    throw err;
  }
  return { children, urls: ports.map((p) => `nats://127.0.0.1:${p.client}`).join(',') };
}

function ready(child: ChildProcess, name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new P2PError('BROKER_UNAVAILABLE', `${name} did not start within 15 s`)), 15_000);
    // keep reading stderr for the life of the process, or the server blocks on a full pipe
    createInterface({ input: child.stderr! }).on('line', (line) => {
      if (/Server is ready/.test(line)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new P2PError('BROKER_UNAVAILABLE', `${name} exited with code ${code}`));
    });
  });
}
