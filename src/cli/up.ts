// `p2p up`: a local swarm in one command — the configured NATS server (or a nats-server child
// on a free port when none answers), a tracker and N peers as child processes; Ctrl-C stops all.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { P2PError } from '../errors.js';
import { PROTOCOL_VERSION, StatusReply } from '../protocol/messages.js';
import { connectBus, request } from '../transport/bus.js';
import { action, configFrom, intOption, natsAuth, untilSignal } from './common.js';
import { subjects as makeSubjects } from '../protocol/subjects.js';
import { findNatsServer } from '../nats-server.js';
import { startLocalCluster } from './cluster.js';

const DEMO_FILE = 'hello-swarm.bin';

interface UpFlags {
  peers: number;
  dir: string;
  demo?: boolean;
  exit?: boolean;
  cluster?: number;
}

export function upCommand(program: Command): void {
  program
    .command('up')
    .description('start a local swarm: NATS (if none answers), a tracker and N peers; Ctrl-C stops everything')
    .option('--peers <n>', 'number of peers', intOption('--peers', 1, 50), 3)
    .option('--dir <dir>', 'folder for the peers (DIR/peer1, DIR/peer2, …)', 'swarm')
    .option('--demo', 'put a sample file in peer1/shared and download it to peer2')
    .option('--exit', 'stop everything after the demo download instead of staying up')
    .option('--cluster <n>', 'start an N-node NATS cluster (JetStream, routes) on 127.0.0.1 and a tracker on the KV store with N replicas', intOption('--cluster', 1, 7))
    .action(
      action(async (opts: UpFlags, cmd: Command) => {
        const config = configFrom(cmd);
        const dir = resolve(opts.dir);
        mkdirSync(dir, { recursive: true });
        const children: ChildProcess[] = [];
        const say = (s: string) => process.stdout.write(s + '\n');
        const stopAll = async () => {
          await Promise.all(children.map((c) => stopChild(c)));
        };
        try {
          let url = config.nats.url;
          if (opts.cluster) {
            const cluster = await startLocalCluster(join(dir, 'nats-cluster'), opts.cluster);
            children.push(...cluster.children);
            url = cluster.urls;
            say(`started a ${opts.cluster}-node NATS cluster at ${url}`);
          } else if (!(await natsAnswers(url, natsAuth(config)))) {
            const nats = await startNatsServer(join(dir, 'nats'));
            children.push(nats.child);
            url = nats.url;
            say(`started nats-server at ${url} (no broker answered at ${config.nats.url})`);
          } else say(`using the NATS server at ${url}`);
          const cli = [...process.execArgv, process.argv[1]!];
          const common = ['--nats', url, '--prefix', config.prefix];
          const run = (label: string, args: string[]) => {
            const child = spawn(process.execPath, [...cli, ...args, ...common], { stdio: ['ignore', 'pipe', 'pipe'] });
            prefixOutput(child, label);
            children.push(child);
            return child;
          };
          if (opts.demo) {
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
          await waitForPeers(url, config.prefix, natsAuth(config), ids);
          say(`swarm up: tracker + ${ids.join(', ')} under ${dir}`);
          let code = 0;
          if (opts.demo) {
            if (opts.peers < 2) throw new P2PError('BAD_REQUEST', '--demo needs at least 2 peers');
            const name = DEMO_FILE;
            say(`demo: peer1 shares ${name} (8 MiB); asking peer2 to download it…`);
            code = await runChild(process.execPath, [...cli, 'get', name, '--peer', 'peer2', '--timeout', '60', ...common]);
            say(code === 0 ? `demo: downloaded and verified — see ${join(dir, 'peer2', 'downloads', name)}` : `demo: download failed (exit ${code})`);
          }
          const me = `${process.argv[1]!.endsWith('.ts') ? 'node --import tsx ' + process.argv[1] : 'npx p2p'}`;
          say('');
          say('next, in another terminal:');
          say(`  cp SOME_FILE ${join(dir, 'peer1', 'shared')}/`);
          say(`  ${me} ls --nats ${url}`);
          say(`  ${me} get SOME_FILE --peer peer2 --nats ${url}`);
          say(`  ${me} status --peer peer2 --nats ${url}`);
          if (opts.exit) {
            await stopAll();
            return code;
          }
          say('Ctrl-C stops the swarm.');
          await untilSignal(stopAll);
          return code;
        } catch (err) {
          await stopAll();
          throw err;
        }
      }),
    );
}

async function natsAnswers(url: string, extra: Record<string, unknown>): Promise<boolean> {
  try {
    const nc = await connectBus({ url, name: 'p2p-up-probe', reconnect: false, timeoutMs: 1500, extra });
    await nc.close();
    return true;
  } catch {
    return false;
  }
}


async function startNatsServer(storeDir: string): Promise<{ child: ChildProcess; url: string }> {
  const bin = findNatsServer();
  if (!bin) {
    throw new P2PError(
      'BROKER_UNAVAILABLE',
      'no NATS server answers and nats-server is not installed: install it (Debian/Ubuntu: sudo apt-get install -y nats-server) or point --nats at a running one',
    );
  }
  mkdirSync(storeDir, { recursive: true });
  const child = spawn(bin, ['-a', '127.0.0.1', '-p', '-1', '-js', '-sd', storeDir], { stdio: ['ignore', 'ignore', 'pipe'] });
  const url = await new Promise<string>((resolvePort, reject) => {
    const timer = setTimeout(() => reject(new P2PError('BROKER_UNAVAILABLE', 'nats-server did not start within 10 s')), 10_000);
    const lines = createInterface({ input: child.stderr! });
    lines.on('line', (line) => {
      const m = /Listening for client connections on ([\d.]+):(\d+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolvePort(`nats://${m[1]}:${m[2]}`);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new P2PError('BROKER_UNAVAILABLE', `nats-server exited with code ${code}`));
    });
  });
  return { child, url };
}

async function waitForPeers(url: string, prefix: string, extra: Record<string, unknown>, ids: string[]): Promise<void> {
  const nc = await connectBus({ url, name: 'p2p-up', reconnect: false, extra });
  const s = makeSubjects(prefix);
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

function prefixOutput(child: ChildProcess, label: string): void {
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    createInterface({ input: stream }).on('line', (line) => process.stderr.write(`[${label}] ${line}\n`));
  }
}

function runChild(cmd: string, args: string[]): Promise<number> {
  return new Promise((resolveCode) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'] });
    child.once('exit', (code) => resolveCode(code ?? 1));
  });
}

function stopChild(child: ChildProcess): Promise<void> {
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
