// The product inside the LAN lab: nats-server nodes (alone or as a cluster), trackers, peers and
// one-shot CLI commands, each a real process in its own host (`ip netns exec`). Everything is
// stopped with the lab (t.teardown), pass or fail.
import type { TestFn } from 'ava';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CLI, FAST_ENV, type CliResult } from './processes.js';
import { natsBinary } from './nats.js';
import { labGate, sh, type Lan, type LabProcess } from './lan.js';

export const NATS_PORT = 4222;
export const ROUTE_PORT = 6222;

/** ava's test, serial, when the lab can run; else a skip (reason printed) or, under CI=true, a failure. */
export async function labTest<C>(test: TestFn<C>): Promise<(title: string, fn: Parameters<TestFn<C>['serial']>[1]) => void> {
  const gate = await labGate();
  if (gate.run) return (title, fn) => test.serial(title, fn);
  if (gate.failInCi) return (title) => test(title, (t) => t.fail(`LAN lab unavailable under CI=true: ${gate.reason}`));
  return (title, fn) => test.skip(`${title} (skipped: ${gate.reason})`, fn);
}

/** A nats-server node in a host: alone, or one of a cluster whose route hosts are given. */
export async function labNats(
  lan: Lan,
  host: string,
  storeDir: string,
  opts: { cluster?: string[]; name?: string } = {},
): Promise<LabProcess> {
  const bin = natsBinary();
  if (!bin) throw new Error('nats-server not found');
  const addr = lan.host(host).addr;
  const args = ['-a', addr, '-p', String(NATS_PORT), '-js', '-sd', join(storeDir, host), '-n', opts.name ?? host];
  if (opts.cluster) {
    const routes = opts.cluster.filter((h) => h !== host).map((h) => `nats-route://${lan.host(h).addr}:${ROUTE_PORT}`);
    args.push('--cluster_name', 'p2p', '--cluster', `nats://${addr}:${ROUTE_PORT}`, '--routes', routes.join(','));
  }
  const proc = lan.spawn(host, bin, args, { label: `nats@${host}` });
  await proc.waitFor(/Server is ready/, 15_000);
  return proc;
}

/** nats://addr:4222 of these hosts, comma-separated (what --nats takes). */
export function natsUrls(lan: Lan, hosts: string[]): string {
  return hosts.map((h) => `nats://${lan.host(h).addr}:${NATS_PORT}`).join(',');
}

/** A `p2p` daemon in a host, ready when it prints `ready`. */
export async function labDaemon(lan: Lan, host: string, args: string[], ready: RegExp, env: Record<string, string> = {}): Promise<LabProcess> {
  const proc = lan.spawn(host, process.execPath, [CLI, ...args], { env: { ...process.env, ...FAST_ENV, ...env }, label: `${args[0]}@${host}` });
  await proc.waitFor(ready, 30_000);
  return proc;
}

/** A one-shot `p2p` command in a host. */
export async function labCli(lan: Lan, host: string, args: string[], opts: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<CliResult> {
  const proc = lan.spawn(host, process.execPath, [CLI, ...args], { env: { ...process.env, ...FAST_ENV, ...opts.env }, label: `cli@${host}` });
  const timer = setTimeout(() => proc.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
  const code = await proc.exited;
  clearTimeout(timer);
  // the line reader may lag the exit by a tick
  await new Promise((r) => setImmediate(r));
  const stdout = new Set(proc.stdout);
  return { code, stdout: proc.stdout.join('\n'), stderr: proc.lines.filter((l) => !stdout.has(l)).join('\n') };
}

/** Put a file in a peer's shared folder. */
export async function share(root: string, peer: string, name: string, content: Buffer): Promise<void> {
  await mkdir(join(root, peer, 'shared'), { recursive: true });
  await writeFile(join(root, peer, 'shared', name), content);
}

/** A TCP connect from one host to addr:port: 'ok', or the error code. */
export async function tcpProbe(lan: Lan, from: string, addr: string, port: number): Promise<string> {
  const js = `const s=require('net').connect({host:${JSON.stringify(addr)},port:${port},timeout:1500});s.on('connect',()=>{console.log('ok');s.destroy()});s.on('timeout',()=>{console.log('ETIMEDOUT');s.destroy()});s.on('error',e=>console.log(e.code))`;
  return (await sh('ip', ['netns', 'exec', lan.host(from).ns, process.execPath, '-e', js])).trim();
}
