// A LAN on this one machine for tests and the bench: Linux network namespaces ("hosts") joined by
// a bridge that lives in a namespace of its own, so nothing in the machine's own namespace is
// touched. Each host has one address in a private /24 that exists only inside this lab. A host's
// link can be capped (tc tbf on both ends of its veth: upload and download), cut and healed; what
// runs there can be killed. Names carry a per-run id; the lab is removed in t.teardown, pass or
// fail, and by a process exit hook if the worker dies first. Needs root and iproute2.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';

/** Where the lab registers its removal: a test's t / Scope (teardown) or a bench Scope (defer). */
export type Cleanup = { teardown(fn: () => unknown): void } | { defer(fn: () => unknown): void };

const PREFIX = 'p2pl';

/** One host of the lab. */
export interface LanHost {
  name: string;
  /** network namespace name (p2pl-<runid>-<name>) */
  ns: string;
  /** its address in the lab's /24 */
  addr: string;
  /** its port on the bridge (in the switch namespace) */
  port: string;
}

/** Why the lab cannot run here, or undefined when it can (cached). */
let availability: Promise<string | undefined> | undefined;
export function labUnavailable(): Promise<string | undefined> {
  availability ??= probe();
  return availability;
}

async function probe(): Promise<string | undefined> {
  if (process.platform !== 'linux') return `network namespaces need Linux (this is ${process.platform})`;
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'the LAN lab needs root (ip netns, veth, tc)';
  const name = `${PREFIX}-probe-${randomBytes(3).toString('hex')}`;
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
  } catch {
    return 'iproute2 (`ip`) is not installed: apt-get install -y iproute2';
  }
  try {
    execFileSync('tc', ['-V'], { stdio: 'ignore' });
  } catch {
    return 'tc (iproute2) is not installed: apt-get install -y iproute2';
  }
  try {
    execFileSync('ip', ['netns', 'add', name], { stdio: 'pipe' });
    execFileSync('ip', ['-n', name, 'link', 'add', 'br0', 'type', 'bridge'], { stdio: 'pipe' });
  } catch (err) {
    return `cannot create a network namespace with a bridge: ${String((err as { stderr?: Buffer }).stderr ?? (err as Error).message).trim()}`;
  } finally {
    try {
      execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
    } catch {
      // was never created
    }
  }
  return undefined;
}

/** Run a command; reject with its stderr. */
export function sh(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (err += d));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(' ')} failed (${code}): ${err.trim()}`))));
  });
}

/** A process running in a lab host. */
export interface LabProcess {
  child: ChildProcess;
  host: LanHost;
  lines: string[];
  /** the lines it wrote on stdout alone */
  stdout: string[];
  /** first line (seen so far or later) matching re; rejects on timeout or exit */
  waitFor(re: RegExp, timeoutMs?: number): Promise<string>;
  /** resolves with the exit code (null when killed by a signal) */
  exited: Promise<number | null>;
  /** SIGTERM, SIGKILL after 5 s */
  stop(): Promise<number | null>;
  kill(signal?: NodeJS.Signals): void;
}

export interface LanOptions {
  /** host names, e.g. ['nats', 'tracker', 'seed', 'leech'] */
  hosts: string[];
  /** TCP congestion control of every host (one of the machine's net.ipv4.tcp_allowed_congestion_control); default: the machine's */
  congestion?: string;
  /** every link's MTU (default 1500, Ethernet's); 9000 for jumbo frames: a sixth of the packets for the same bytes */
  mtu?: number;
}

/** Set a host's TCP congestion control, with the reason when the machine does not allow it. */
async function setCongestion(ns: string, name: string): Promise<void> {
  if (!/^[a-z0-9_]{1,16}$/.test(name)) throw new Error(`TCP congestion control ${JSON.stringify(name)}: not a name`);
  try {
    await sh('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', `net.ipv4.tcp_congestion_control=${name}`]);
  } catch (err) {
    const allowed = await sh('ip', ['netns', 'exec', ns, 'sysctl', '-n', 'net.ipv4.tcp_allowed_congestion_control']).catch(() => '?');
    throw new Error(`TCP congestion control ${name} is not allowed in a lab host (allowed: ${allowed.trim()}): ${(err as Error).message}`);
  }
}

/** A lab: `await Lan.create(t, { hosts })`. */
export class Lan {
  readonly runId: string;
  readonly subnet: string;
  private readonly hosts = new Map<string, LanHost>();
  private readonly switchNs: string;
  private readonly procs = new Set<LabProcess>();
  private destroyed = false;
  private readonly onExit = () => this.destroySync();

  private constructor() {
    this.runId = randomBytes(3).toString('hex');
    const a = 100 + (parseInt(this.runId.slice(0, 2), 16) % 100);
    const b = parseInt(this.runId.slice(2, 4), 16);
    this.subnet = `10.${a}.${b}`;
    this.switchNs = `${PREFIX}-${this.runId}-sw`;
  }

  /** Build the lab (throws with the reason when it cannot run here). */
  static async create(t: Cleanup, opts: LanOptions): Promise<Lan> {
    const why = await labUnavailable();
    if (why) throw new Error(`LAN lab unavailable: ${why}`);
    if (opts.hosts.length > 200) throw new Error('at most 200 hosts');
    if (opts.mtu !== undefined && !(Number.isInteger(opts.mtu) && opts.mtu >= 576 && opts.mtu <= 65_535)) throw new Error(`MTU ${opts.mtu}: an integer from 576 to 65535`);
    const lan = new Lan();
    if ('teardown' in t) t.teardown(() => lan.destroy());
    else t.defer(() => lan.destroy());
    process.setMaxListeners(Math.max(process.getMaxListeners(), 100));
    process.once('exit', lan.onExit);
    await lan.build(opts.hosts, opts.congestion, opts.mtu);
    return lan;
  }

  private async build(names: string[], congestion: string | undefined, mtu: number | undefined): Promise<void> {
    await sh('ip', ['netns', 'add', this.switchNs]);
    await sh('ip', ['-n', this.switchNs, 'link', 'add', 'br0', 'type', 'bridge']);
    await sh('ip', ['-n', this.switchNs, 'link', 'set', 'br0', 'up']);
    let i = 0;
    for (const name of names) {
      if (!/^[a-z0-9]{1,12}$/.test(name)) throw new Error(`host name ${name}: 1-12 of [a-z0-9]`);
      i++;
      const host: LanHost = { name, ns: `${PREFIX}-${this.runId}-${name}`, addr: `${this.subnet}.${i + 1}`, port: `h${i}` };
      this.hosts.set(name, host);
      await sh('ip', ['netns', 'add', host.ns]);
      await sh('ip', ['link', 'add', 'eth0', 'netns', host.ns, 'type', 'veth', 'peer', 'name', host.port, 'netns', this.switchNs]);
      await sh('ip', ['-n', host.ns, 'addr', 'add', `${host.addr}/24`, 'dev', 'eth0']);
      if (mtu !== undefined && mtu !== 1500) {
        // both ends of the link; the bridge takes its ports' smallest MTU
        await sh('ip', ['-n', host.ns, 'link', 'set', 'eth0', 'mtu', String(mtu)]);
        await sh('ip', ['-n', this.switchNs, 'link', 'set', host.port, 'mtu', String(mtu)]);
      }
      await sh('ip', ['-n', host.ns, 'link', 'set', 'lo', 'up']);
      if (congestion) await setCongestion(host.ns, congestion);
      await sh('ip', ['-n', host.ns, 'link', 'set', 'eth0', 'up']);
      await sh('ip', ['-n', this.switchNs, 'link', 'set', host.port, 'master', 'br0']);
      await sh('ip', ['-n', this.switchNs, 'link', 'set', host.port, 'up']);
    }
  }

  /** A host's link MTU at both ends (for checks). */
  async mtu(name: string): Promise<{ host: number; switch: number }> {
    const host = this.host(name);
    const read = async (ns: string, dev: string) => (JSON.parse(await sh('ip', ['-j', '-n', ns, 'link', 'show', dev])) as Array<{ mtu: number }>)[0]!.mtu;
    return { host: await read(host.ns, 'eth0'), switch: await read(this.switchNs, host.port) };
  }

  /** The TCP congestion control the lab's hosts use (read in the first host). */
  async congestion(): Promise<string> {
    const first = this.allHosts()[0];
    if (!first) return '?';
    return (await sh('ip', ['netns', 'exec', first.ns, 'sysctl', '-n', 'net.ipv4.tcp_congestion_control']).catch(() => '?')).trim();
  }

  host(name: string): LanHost {
    const h = this.hosts.get(name);
    if (!h) throw new Error(`no host ${name} in this lab`);
    return h;
  }

  allHosts(): LanHost[] {
    return [...this.hosts.values()];
  }

  /** Run a command in a host to completion. */
  exec(name: string, cmd: string, args: string[]): Promise<string> {
    return sh('ip', ['netns', 'exec', this.host(name).ns, cmd, ...args]);
  }

  /** Start a long-running command in a host (`ip netns exec` execs it: same pid). */
  spawn(name: string, cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; label?: string } = {}): LabProcess {
    const host = this.host(name);
    const child = spawn('ip', ['netns', 'exec', host.ns, cmd, ...args], { env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = [];
    const stdout: string[] = [];
    const waiters: Array<{ re: RegExp; resolve: (l: string) => void }> = [];
    const label = opts.label ?? `${name}:${args[1] ?? cmd}`;
    for (const stream of [child.stdout!, child.stderr!]) {
      createInterface({ input: stream }).on('line', (line) => {
        lines.push(line);
        if (stream === child.stdout) stdout.push(line);
        if (lines.length > 5000) lines.splice(0, 1000);
        if (process.env.P2P_TEST_VERBOSE) process.stderr.write(`[${label}] ${line}\n`);
        for (const w of [...waiters]) {
          if (w.re.test(line)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(line);
          }
        }
      });
    }
    const exited = new Promise<number | null>((resolve) => {
      child.once('error', () => resolve(-1));
      child.once('exit', (code) => resolve(code));
    });
    const proc: LabProcess = {
      child,
      host,
      lines,
      stdout,
      exited,
      waitFor: (re, timeoutMs = 20_000) => {
        const seen = lines.find((l) => re.test(l));
        if (seen) return Promise.resolve(seen);
        return new Promise<string>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`timed out waiting for ${re} from ${label}; output:\n${lines.slice(-30).join('\n')}`)), timeoutMs);
          waiters.push({ re, resolve: (l) => (clearTimeout(timer), resolve(l)) });
          void exited.then((code) => {
            clearTimeout(timer);
            reject(new Error(`${label} exited with ${code} before ${re}; output:\n${lines.slice(-30).join('\n')}`));
          });
        });
      },
      kill: (signal = 'SIGKILL') => {
        if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      },
      stop: async () => {
        if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
        const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
        child.kill('SIGTERM');
        const code = await exited;
        clearTimeout(killer);
        return code;
      },
    };
    this.procs.add(proc);
    void exited.then(() => this.procs.delete(proc));
    return proc;
  }

  /**
   * Cap a host's link at `rate` (tc syntax: 100mbit, 20mbit) both ways: its upload is shaped on
   * its own eth0, its download on its bridge port (egress towards the host). tbf, no netem.
   */
  async cap(name: string, rate: string): Promise<void> {
    const host = this.host(name);
    const bits = parseRate(rate);
    // burst: at least one timer tick's worth of bytes at 250 Hz, and a few full frames
    const burst = Math.max(32 * 1024, Math.ceil(bits / 8 / 250));
    const args = ['root', 'tbf', 'rate', rate, 'burst', String(burst), 'latency', '50ms'];
    await sh('tc', ['-n', host.ns, 'qdisc', 'replace', 'dev', 'eth0', ...args]);
    await sh('tc', ['-n', this.switchNs, 'qdisc', 'replace', 'dev', host.port, ...args]);
  }

  /** Remove a cap. */
  async uncap(name: string): Promise<void> {
    const host = this.host(name);
    await sh('tc', ['-n', host.ns, 'qdisc', 'del', 'dev', 'eth0', 'root']).catch(() => undefined);
    await sh('tc', ['-n', this.switchNs, 'qdisc', 'del', 'dev', host.port, 'root']).catch(() => undefined);
  }

  /** The qdiscs on both ends of a host's link (for checks). */
  async qdiscs(name: string): Promise<{ host: string; switch: string }> {
    const host = this.host(name);
    return {
      host: await sh('tc', ['-n', host.ns, 'qdisc', 'show', 'dev', 'eth0']),
      switch: await sh('tc', ['-n', this.switchNs, 'qdisc', 'show', 'dev', host.port]),
    };
  }

  /** Bytes each host has sent and received over its link: [up, down] (its switch port's rx and tx counters). */
  async linkBytes(): Promise<Record<string, [number, number]>> {
    const ports = JSON.parse(await sh('ip', ['-j', '-s', '-n', this.switchNs, 'link', 'show'])) as Array<{ ifname: string; stats64?: { rx: { bytes: number }; tx: { bytes: number } } }>;
    const out: Record<string, [number, number]> = {};
    for (const h of this.hosts.values()) {
      const p = ports.find((x) => x.ifname === h.port)?.stats64;
      if (p) out[h.name] = [p.rx.bytes, p.tx.bytes];
    }
    return out;
  }

  /** Unplug a host's cable at the switch: its packets go nowhere (connections hang, then time out). */
  cut(name: string): Promise<string> {
    return sh('ip', ['-n', this.switchNs, 'link', 'set', this.host(name).port, 'down']);
  }

  /** Plug it back in. */
  heal(name: string): Promise<string> {
    return sh('ip', ['-n', this.switchNs, 'link', 'set', this.host(name).port, 'up']);
  }

  /** Kill every process in a host (default SIGKILL). */
  async killAll(name: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<number> {
    const pids = await this.pids(name);
    for (const pid of pids) {
      try {
        process.kill(pid, signal);
      } catch {
        // already gone
      }
    }
    return pids.length;
  }

  /** Pids running in a host. */
  async pids(name: string): Promise<number[]> {
    const out = await sh('ip', ['netns', 'pids', this.host(name).ns]).catch(() => '');
    return out.split(/\s+/).filter(Boolean).map(Number);
  }

  /** Namespaces of this lab that exist right now (for checks). */
  async namespaces(): Promise<string[]> {
    const out = await sh('ip', ['netns', 'list']);
    return out
      .split('\n')
      .map((l) => l.split(' ')[0]!)
      .filter((n) => n.startsWith(`${PREFIX}-${this.runId}-`));
  }

  /** Stop every process (TERM, then KILL), then delete every namespace (their links go with them). */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    await Promise.all([...this.procs].map((p) => p.stop()));
    for (const host of this.hosts.values()) await this.killAll(host.name);
    this.destroySync();
  }

  private destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    process.removeListener('exit', this.onExit);
    for (const ns of [...[...this.hosts.values()].map((h) => h.ns), this.switchNs]) {
      try {
        const pids = execFileSync('ip', ['netns', 'pids', ns], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().split(/\s+/).filter(Boolean);
        for (const pid of pids) {
          try {
            process.kill(Number(pid), 'SIGKILL');
          } catch {
            // gone
          }
        }
      } catch {
        // namespace already gone
      }
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
      } catch {
        // already gone
      }
    }
  }
}

/** "100mbit" → bits per second (tc units: kbit, mbit, gbit; bit = bits/s). */
export function parseRate(rate: string): number {
  const m = /^(\d+(?:\.\d+)?)(bit|kbit|mbit|gbit)$/i.exec(rate);
  if (!m) throw new Error(`rate ${rate}: use e.g. 100mbit`);
  const mult = { bit: 1, kbit: 1e3, mbit: 1e6, gbit: 1e9 }[m[2]!.toLowerCase() as 'bit']!;
  return Number(m[1]) * mult;
}

/**
 * How the tests gate on the lab: the reason it cannot run here, printed once; under CI=true that
 * reason is a failure, not a skip.
 */
export async function labGate(): Promise<{ run: boolean; reason?: string; failInCi: boolean }> {
  const reason = await labUnavailable();
  if (!reason) return { run: true, failInCi: false };
  const ci = process.env.CI === 'true';
  process.stderr.write(`LAN lab tests ${ci ? 'FAIL' : 'skipped'}: ${reason}\n`);
  return { run: false, reason, failInCi: ci };
}
