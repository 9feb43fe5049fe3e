// Starts a real nats-server for a test: loopback only, a port chosen by the server (or given),
// JetStream in a temp dir, killed and cleaned up in t.teardown whether the test passed or not.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { delimiter, join } from 'node:path';
import type { Teardown } from './scope.js';
import { tempDir } from './tmp.js';

const HOST = '127.0.0.1';
const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;
const STDERR_KEEP = 16 * 1024;
const LISTENING = /Listening for client connections on [^\s]+:(\d+)/;

/** A running nats-server owned by one test. */
export interface NatsServerHandle {
  /** nats://127.0.0.1:PORT */
  url: string;
  port: number;
  /** JetStream store directory (kept across restart) */
  storeDir: string;
  /** Graceful stop (SIGTERM, SIGKILL after a few seconds); resolves once the process is gone. */
  stop(): Promise<void>;
  /** Send a signal (default SIGKILL) without waiting: a crash, for failure tests. */
  kill(signal?: NodeJS.Signals): void;
  /** Stop if running, then start again on the same port with the same store. */
  restart(): Promise<void>;
}

export interface StartNatsOptions {
  /** enable JetStream (default true) */
  jetstream?: boolean;
  /** fixed port; default: the server picks a free one */
  port?: number;
  /** a nats-server config file (-c); -a/-p/-js from the options still apply */
  config?: string;
}

/** Path of the nats-server binary ($NATS_SERVER_BIN, then PATH, then /usr/sbin), or undefined. */
export function natsBinary(): string | undefined {
  const fromEnv = process.env.NATS_SERVER_BIN;
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/bin', '/usr/local/sbin'];
  const candidates = [...(fromEnv ? [fromEnv] : []), ...dirs.filter(Boolean).map((d) => join(d, 'nats-server'))];
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here, try the next one
    }
  }
  return undefined;
}

/** Start a nats-server for this test; it is gone (and its directory removed) after the test. */
export async function startNats(t: Teardown, opts: StartNatsOptions = {}): Promise<NatsServerHandle> {
  const bin = natsBinary();
  if (!bin) {
    throw new Error(
      'nats-server not found on PATH or in /usr/sbin: install it (apt-get install -y nats-server, or ' +
        'https://github.com/nats-io/nats-server/releases) or set NATS_SERVER_BIN',
    );
  }
  // registered first so that (teardowns run in reverse) it is removed after the server stopped
  const storeDir = await tempDir(t, 'p2p-nats-');
  const server = new NatsServerProcess(bin, storeDir, opts.jetstream ?? true, opts.config);
  t.teardown(() => server.stop());
  const port = await server.launch(opts.port ?? -1);
  const handle: NatsServerHandle = {
    url: `nats://${HOST}:${port}`,
    port,
    storeDir,
    stop: () => server.stop(),
    kill: (signal) => server.kill(signal),
    restart: async () => {
      await server.stop();
      await server.launch(port);
    },
  };
  return handle;
}

/** One nats-server child process at a time; launch() again after stop() to restart. */
class NatsServerProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private stderr = '';

  constructor(
    private readonly bin: string,
    private readonly storeDir: string,
    private readonly jetstream: boolean,
    private readonly config?: string,
  ) {}

  /** Spawn on `port` (-1: any free port); resolves with the port once it accepts connections. */
  async launch(port: number): Promise<number> {
    if (this.child) throw new Error('nats-server is already running');
    const args = [...(this.config ? ['-c', this.config] : []), '-a', HOST, '-p', String(port)];
    if (this.jetstream) args.push('-js', '-sd', this.storeDir);
    this.stderr = '';
    const child = spawn(this.bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    // a worker that dies abruptly must not leave the server behind
    const onParentExit = () => child.kill('SIGKILL');
    process.once('exit', onParentExit);
    this.exited = new Promise((resolve) => {
      child.once('close', () => {
        process.removeListener('exit', onParentExit);
        if (this.child === child) this.child = undefined;
        resolve();
      });
    });

    const listening = new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(this.failure(`did not start within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
      // keep reading stderr for the whole life of the process, or the server blocks on a full pipe
      child.stderr!.setEncoding('utf8');
      child.stderr!.on('data', (text: string) => {
        this.stderr = (this.stderr + text).slice(-STDERR_KEEP);
        const match = LISTENING.exec(this.stderr);
        if (match) {
          clearTimeout(timer);
          resolve(Number(match[1]));
        }
      });
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(this.failure(`could not be spawned: ${err.message}`));
      });
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        reject(this.failure(`exited during start (code ${code}, signal ${signal})`));
      });
    });

    try {
      const actual = await listening;
      await waitForTcp(actual, START_TIMEOUT_MS);
      return actual;
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    this.child?.kill(signal);
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return this.exited;
    child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      this.exited.then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), STOP_TIMEOUT_MS);
      }),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      child.kill('SIGKILL');
      await this.exited;
    }
  }

  private failure(what: string): Error {
    return new Error(`nats-server (${this.bin}) ${what}; its stderr:\n${this.stderr || '(empty)'}`);
  }
}

/** Resolve once a TCP connection to 127.0.0.1:port succeeds; retries until the deadline. */
async function waitForTcp(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = tcpConnect({ host: HOST, port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => {
        socket.destroy();
        resolve(false);
      });
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nats-server on port ${port} does not accept connections`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
