// A TCP port that was free a moment ago: for "nothing listens there" cases, and for servers a
// test starts on a port it must name in advance (a cluster's routes).
//
// The port is taken below the kernel's ephemeral range (net.ipv4.ip_local_port_range). Servers
// other tests start on "any free port" (`nats-server -p -1`, `listen(0)`) and outgoing
// connections are given ports inside that range, so they cannot take this one between the check
// and its use (they did: a `p2p up` pointed at a "dead" port once found another test's broker).
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** Ports to choose from: 10000 up to just below the ephemeral range (a fixed span if it cannot be read). */
function span(): [number, number] {
  let low = 32768;
  try {
    low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || low;
  } catch {
    // not Linux: keep the IANA-style default's lower bound
  }
  return low > 11_000 ? [10_000, low - 1] : [1025, 9999];
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

export async function freePort(): Promise<number> {
  const [lo, hi] = span();
  // a random start: tests in other processes looking at the same time rarely pick the same port
  for (let i = 0; i < 200; i++) {
    const port = lo + Math.floor(Math.random() * (hi - lo + 1));
    if (await bindable(port)) return port;
  }
  throw new Error(`no free TCP port found in ${lo}-${hi}`);
}
