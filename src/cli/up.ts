// `p2p up`: a local swarm in one command — the NATS server at the URL it was given (or a
// nats-server child on that port when none answers), a tracker and N peers as child processes.
// With --demo the swarm runs under a private prefix, so it never mixes with one already on the
// broker. Ctrl-C stops the peers and the tracker first, then the broker they stand on.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import type { ConnectionOptions } from 'nats';
import { P2PError } from '../errors.js';
import { ExitCode, action, intOption, untilSignal, type GlobalOptions } from './args.js';
import { startLocalCluster } from './cluster.js';

const DEMO_FILE = 'hello-swarm.bin';

interface UpFlags {
  peers: number;
  dir: string;
  demo?: boolean;
  exit?: boolean;
  dashboard: boolean;
  cluster?: number;
}

interface Child {
  label: string;
  proc: ChildProcess;
}

export function upCommand(program: Command): void {
  program
    .command('up')
    .description('start a local swarm: NATS (if none answers), a tracker and N peers; Ctrl-C stops everything')
    .option('--peers <n>', 'number of peers', intOption('--peers', 1, 50), 3)
    .option('--dir <dir>', 'folder for the peers (DIR/peer1, DIR/peer2, …)', 'swarm')
    .option('--demo', 'put a sample file in peer1/shared and download it to peer2 (under a private prefix unless --prefix is given)')
    .option('--exit', 'stop everything after the demo download instead of staying up')
    .option('--no-dashboard', 'do not start the web dashboard (`p2p dashboard`)')
    .option('--cluster <n>', 'start an N-node NATS cluster (JetStream, routes) on 127.0.0.1 and a tracker on the KV store with N replicas', intOption('--cluster', 1, 7))
    .action(
      action(async (opts: UpFlags, cmd: Command) => {
        const { configFrom, natsAuth } = await import('./common.js');
        const g = cmd.optsWithGlobals<GlobalOptions>();
        const prefixGiven = Boolean(g.prefix || process.env.P2P_PREFIX);
        const config = await configFrom(cmd, opts.demo && !prefixGiven ? { prefix: `demo-${randomBytes(3).toString('hex')}` } : {});
        const auth = natsAuth(config);
        const dir = resolve(opts.dir);
        mkdirSync(dir, { recursive: true });
        const daemons: Child[] = [];
        const brokers: Child[] = [];
        const say = (s: string) => process.stdout.write(s + '\n');
        const stopAll = async () => {
          // the peers and the tracker first, then the broker they stand on; each child once, so a
          // second call (a Ctrl-C during start-up, then the unwinding) stops only what came since
          await Promise.all(daemons.splice(0).map((c) => stopChild(c).then(() => say(`stopped ${c.label}`))));
          await Promise.all(brokers.splice(0).map((c) => stopChild(c).then(() => say(`stopped ${c.label}`))));
        };
        // Ctrl-C from the very start: the children are detached (the terminal's SIGINT reaches us
        // alone), so whatever has started must be stopped here, and nothing more started
        let interrupted = false;
        let onInterrupt!: () => void;
        const interruption = new Promise<never>((_, reject) => (onInterrupt = () => reject(new Interrupted())));
        interruption.catch(() => undefined);
        const stopped = untilSignal(
          async () => {
            interrupted = true;
            onInterrupt();
            await stopAll();
          },
          { quiet: true },
        );
        /** brokers being started: waited for (and stopped) when Ctrl-C cut their start short */
        const pending: Promise<unknown>[] = [];
        /** A start-up step, cut short by Ctrl-C; nothing starts after one. */
        const step = async <T>(p: Promise<T>): Promise<T> => {
          const value = await Promise.race([p, interruption]);
          if (interrupted) throw new Interrupted();
          return value;
        };
        try {
          let url = config.nats.url;
          if (opts.cluster) {
            // the brokers are ours once up, even when Ctrl-C came while they started
            const starting = startLocalCluster(join(dir, 'nats-cluster'), opts.cluster).then((c) => {
              c.children.forEach((proc, i) => brokers.push({ label: `nats-server ${i + 1}`, proc }));
              return c;
            });
            pending.push(starting);
            const cluster = await step(starting);
            url = cluster.urls;
            say(`started a ${opts.cluster}-node NATS cluster at ${url}`);
          } else if (!(await step(natsAnswers(url, auth)))) {
            const starting = startNatsServer(url, join(dir, 'nats')).then((proc) => brokers.push({ label: 'nats-server', proc }));
            pending.push(starting);
            await step(starting);
            say(`started nats-server at ${url} (no broker answered there)`);
          } else say(`using the NATS server at ${url}`);
          const cli = [...process.execArgv, process.argv[1]!];
          const common = ['--nats', url, '--prefix', config.prefix];
          const run = (label: string, args: string[]) => {
            if (interrupted) throw new Interrupted();
            // detached: Ctrl-C reaches `up` alone, which stops the children in order
            const proc = spawn(process.execPath, [...cli, ...args, ...common], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
            prefixOutput(proc, label);
            daemons.push({ label, proc });
            return proc;
          };
          if (opts.demo) {
            if (opts.peers < 2) throw new P2PError('BAD_REQUEST', '--demo needs at least 2 peers');
            // before peer1 starts, so its first scan already shares it
            const sample = join(dir, 'peer1', 'shared', DEMO_FILE);
            mkdirSync(join(dir, 'peer1', 'shared'), { recursive: true });
            if (!existsSync(sample)) writeFileSync(sample, randomBytes(8 * 1024 * 1024));
          }
          const store = opts.cluster ? ['--store', 'kv', '--replicas', String(opts.cluster)] : [];
          run('tracker', ['tracker', '--log-file', join(dir, 'tracker', 'log.jsonl'), ...store]);
          const ids: string[] = [];
          for (let i = 1; i <= opts.peers; i++) {
            ids.push(`peer${i}`);
            run(`peer${i}`, ['peer', '--dir', join(dir, `peer${i}`), '--id', `peer${i}`]);
          }
          await step(waitForPeers(url, config.prefix, auth, ids));
          say(`swarm up: tracker + ${ids.join(', ')} under ${dir} (prefix ${config.prefix})`);
          if (opts.dashboard) {
            const dash = run('dashboard', ['dashboard', '--log-file', join(dir, 'dashboard', 'log.jsonl')]);
            const ready = await step(firstLine(dash, /dashboard ready at (\S+)/, 20_000));
            say(ready ? `dashboard: ${ready[1]}` : 'the dashboard did not start (see its lines above)');
          }
          let code = 0;
          if (opts.demo) {
            say(`demo: peer1 shares ${DEMO_FILE} (8 MiB); asking peer2 to download it…`);
            code = await step(runChild(process.execPath, [...cli, 'get', DEMO_FILE, '--peer', 'peer2', '--timeout', '60', ...common]));
            say(code === 0 ? `demo: downloaded and verified — see ${join(dir, 'peer2', 'downloads', DEMO_FILE)}` : `demo: download failed (exit ${code})`);
          }
          const me = process.argv[1]!.endsWith('.ts') ? 'node --import tsx ' + process.argv[1] : 'p2p';
          const flags = `--nats ${url}${config.prefix !== 'p2p' ? ` --prefix ${config.prefix}` : ''}`;
          say('');
          say('next, in another terminal:');
          say(`  cp SOME_FILE ${join(dir, 'peer1', 'shared')}/`);
          say(`  ${me} ls ${flags}`);
          say(`  ${me} get SOME_FILE --peer peer2 ${flags}`);
          say(`  ${me} status --peer peer2 ${flags}`);
          if (opts.exit) {
            await stopAll();
            return code;
          }
          say('Ctrl-C stops the swarm.');
          await stopped;
          say('swarm stopped');
          return code;
        } catch (err) {
          await Promise.allSettled(pending);
          await stopAll();
          if (!(err instanceof Interrupted)) throw err;
          await stopped;
          say('interrupted while starting: swarm stopped');
          return ExitCode.interrupted;
        }
      }),
    );
}

/** Ctrl-C during start-up. */
class Interrupted extends Error {}

async function natsAnswers(url: string, extra: Partial<ConnectionOptions>): Promise<boolean> {
  const { connectBus } = await import('../transport/bus.js');
  try {
    const nc = await connectBus({ url, name: 'p2p-up-probe', reconnect: false, timeoutMs: 1500, extra });
    await nc.close();
    return true;
  } catch {
    return false;
  }
}

/** A nats-server on the host and port of `url` (the first of a list); only on this machine. */
async function startNatsServer(url: string, storeDir: string): Promise<ChildProcess> {
  const { findNatsServer } = await import('../nats-server.js');
  const first = url.split(',')[0]!.trim();
  const u = new URL(/^[a-z]+:\/\//i.test(first) ? first : `nats://${first}`);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const port = u.port || '4222';
  if (!['127.0.0.1', 'localhost', '::1', '0.0.0.0'].includes(host) || u.protocol !== 'nats:') {
    throw new P2PError('BROKER_UNAVAILABLE', `no NATS server answers at ${url}, and \`p2p up\` only starts one on this machine (nats://127.0.0.1:PORT): start it there, or give --nats nats://127.0.0.1:PORT`);
  }
  const bin = findNatsServer();
  if (!bin) {
    throw new P2PError(
      'BROKER_UNAVAILABLE',
      `no NATS server answers at ${url} and nats-server is not installed: install it (Debian/Ubuntu: sudo apt-get install -y nats-server) or point --nats at a running one`,
    );
  }
  mkdirSync(storeDir, { recursive: true });
  const child = spawn(bin, ['-a', host === 'localhost' ? '127.0.0.1' : host, '-p', port, '-js', '-sd', storeDir], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  const tail: string[] = [];
  await new Promise<void>((resolveStart, reject) => {
    const timer = setTimeout(() => reject(new P2PError('BROKER_UNAVAILABLE', 'nats-server did not start within 10 s')), 10_000);
    createInterface({ input: child.stderr! }).on('line', (line) => {
      tail.push(line);
      if (tail.length > 5) tail.shift();
      if (/Server is ready/.test(line)) {
        clearTimeout(timer);
        resolveStart();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      const why = tail.map((l) => l.replace(/^\[\d+\] \S+ \S+ \[\w+\] /, '')).join('; ');
      reject(new P2PError('BROKER_UNAVAILABLE', `nats-server on ${host}:${port} exited with code ${code}${why ? `: ${why}` : ''}`));
    });
  });
  return child;
}

async function waitForPeers(url: string, prefix: string, extra: Partial<ConnectionOptions>, ids: string[]): Promise<void> {
  const [{ connectBus, request }, { PROTOCOL_VERSION, StatusReply }, { subjects }] = await Promise.all([
    import('../transport/bus.js'),
    import('../protocol/messages.js'),
    import('../protocol/subjects.js'),
  ]);
  const nc = await connectBus({ url, name: 'p2p-up', reconnect: false, extra });
  const s = subjects(prefix);
  try {
    const deadline = Date.now() + 30_000;
    for (const id of ids) {
      for (;;) {
        try {
          await request(nc, s.status(id), { v: PROTOCOL_VERSION }, StatusReply, { timeoutMs: 1000, who: id });
          break;
        } catch (err) {
          if (Date.now() > deadline) throw new P2PError('TIMEOUT', `${id} did not come up within 30 s: ${(err as Error).message}`);
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    }
  } finally {
    await nc.close();
  }
}

/** Each line of a child's output as `[label] line`; blank lines are left out. */
function prefixOutput(child: ChildProcess, label: string): void {
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    createInterface({ input: stream }).on('line', (line) => {
      if (line.trim() !== '') process.stderr.write(`[${label}] ${line}\n`);
    });
  }
}

/** The first stdout line of `child` matching `re`, or undefined on exit or after `ms`. */
function firstLine(child: ChildProcess, re: RegExp, ms: number): Promise<RegExpExecArray | undefined> {
  return new Promise((resolveLine) => {
    const lines = createInterface({ input: child.stdout! });
    const done = (m: RegExpExecArray | undefined) => {
      clearTimeout(timer);
      // not close(): that would pause the stream the [label] printer still reads
      lines.removeAllListeners('line');
      resolveLine(m);
    };
    const timer = setTimeout(() => done(undefined), ms);
    lines.on('line', (line) => {
      const m = re.exec(line);
      if (m) done(m);
    });
    child.once('exit', () => done(undefined));
  });
}

function runChild(cmd: string, args: string[]): Promise<number> {
  return new Promise((resolveCode) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'] });
    child.once('exit', (code) => resolveCode(code ?? 1));
  });
}

function stopChild(c: Child): Promise<void> {
  const child = c.proc;
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolveStop) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolveStop();
    });
    child.kill('SIGTERM');
  });
}
