// Where the nats-server binary is: used by `p2p up` (to start a broker when none answers) and by
// the benchmark (a private broker per run).
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';

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
