// `p2p peer --dir DIR`: run a peer actor until Ctrl-C.
import { statSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { BadRequestError } from '../errors.js';
import { action, intOption, rateOption } from './args.js';
import { tuneHeapForDaemon } from './daemon-heap.js';
import { isToken } from '../protocol/ids.js';

interface PeerFlags {
  dir: string;
  id?: string;
  port?: number;
  host?: string;
  listen?: string;
  followSymlinks?: boolean;
  uploadLimit?: number;
  downloadLimit?: number;
  uploadSlots?: number;
  maxDownloads?: number;
  maxQueuedDownloads?: number;
  swarmKeyFile?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
}

export function peerCommand(program: Command): void {
  program
    .command('peer')
    .description('run a peer: share DIR/shared, download into DIR/downloads, serve chunks over TCP')
    .requiredOption('--dir <dir>', 'peer folder (holds shared/, downloads/ and .p2p/)')
    .option('--id <id>', 'peer id (kept in DIR/.p2p/peer-id; generated on first start)')
    .option('--port <n>', 'TCP port for chunks (0 = any free port)', intOption('--port', 0, 65535))
    .option('--host <addr>', 'address other peers use to reach this one (LAN IP); the chunk server then listens on all interfaces')
    .option('--listen <addr>', 'address the chunk server binds (default: 127.0.0.1, or 0.0.0.0 with --host)')
    .option('--follow-symlinks', 'share symlinks in shared/ that point outside it')
    .option('--upload-limit <bytes/s>', 'upload cap shared by everyone we serve, e.g. 20M or 512K (0 = unlimited)', rateOption('--upload-limit'))
    .option('--download-limit <bytes/s>', 'download cap over all our downloads, e.g. 20M (0 = unlimited)', rateOption('--download-limit'))
    .option('--upload-slots <n>', 'downloaders served at once; others are told BUSY and retry (0 = unlimited)', intOption('--upload-slots', 0, 100_000))
    .option('--max-downloads <n>', 'downloads doing I/O at once; the others wait their turn (default 16)', intOption('--max-downloads', 1, 10_000))
    .option('--max-queued-downloads <n>', 'downloads kept waiting beyond those; more intents get BUSY (default 256)', intOption('--max-queued-downloads', 0, 1_000_000))
    .option('--swarm-key-file <file>', 'require (and prove) this swarm key on chunk connections; make one with `p2p keygen --out FILE`')
    .option('--tls-cert <file>', 'serve chunks over TLS with this certificate (PEM, with --tls-key)')
    .option('--tls-key <file>', 'private key of --tls-cert (PEM)')
    .option('--tls-ca <file>', 'CA certificate (PEM): connect to other peers over TLS and trust only certificates it signed')
    .action(
      action(async (opts: PeerFlags, cmd: Command) => {
        if (opts.id !== undefined && !isToken(opts.id)) {
          throw new BadRequestError('--id must be 1-64 characters of A-Z a-z 0-9 _ -');
        }
        // a long-running daemon: a heap sized for memory, not allocation speed (bench peer-rss)
        tuneHeapForDaemon();
        const [{ Peer }, { createLogger }, { assertNotSymlink, ensureRealDir }, { connectBus, watchConnection }, { configFrom, natsAuth, runDaemon }, { isLoopback }] = await Promise.all([
          import('../../actors/peer.js'),
          import('../logger.js'),
          import('../store/fence.js'),
          import('../transport/bus.js'),
          import('./common.js'),
          import('../transport/dial.js'),
        ]);
        const over: Record<string, unknown> = { peer: {} };
        if (opts.port !== undefined) (over.peer as Record<string, unknown>).port = opts.port;
        if (opts.host !== undefined) (over.peer as Record<string, unknown>).host = opts.host;
        if (opts.uploadLimit !== undefined) (over.peer as Record<string, unknown>).uploadBps = opts.uploadLimit;
        if (opts.downloadLimit !== undefined) (over.peer as Record<string, unknown>).downloadBps = opts.downloadLimit;
        if (opts.uploadSlots !== undefined) (over.peer as Record<string, unknown>).uploadSlots = opts.uploadSlots;
        if (opts.maxDownloads !== undefined) (over.peer as Record<string, unknown>).maxDownloads = opts.maxDownloads;
        if (opts.maxQueuedDownloads !== undefined) (over.peer as Record<string, unknown>).maxQueuedDownloads = opts.maxQueuedDownloads;
        if (opts.swarmKeyFile !== undefined) (over.peer as Record<string, unknown>).swarmKeyFile = resolve(opts.swarmKeyFile);
        const tls: Record<string, string> = {};
        if (opts.tlsCert !== undefined) tls.cert = resolve(opts.tlsCert);
        if (opts.tlsKey !== undefined) tls.key = resolve(opts.tlsKey);
        if (opts.tlsCa !== undefined) tls.ca = resolve(opts.tlsCa);
        if (Object.keys(tls).length) (over.peer as Record<string, unknown>).tls = tls;
        const config = await configFrom(cmd, over);
        const dir = resolve(opts.dir);
        checkDir(opts.dir, dir);
        if (config.peer.port !== 0) await checkPort(opts.listen || (config.peer.host ? '0.0.0.0' : '127.0.0.1'), config.peer.port);
        await ensureRealDir(join(dir, '.p2p'));
        await assertNotSymlink(join(dir, '.p2p', 'log.jsonl'));
        const logger = createLogger({ level: config.logLevel, file: join(dir, '.p2p', 'log.jsonl') });
        // noEcho: the broker does not hand our own publishes back (every availability message we send
        // came back to be parsed, decoded and dropped; the peer asks nothing of itself over NATS)
        const nc = await connectBus({ url: config.nats.url, name: `p2p-peer ${opts.id ?? dir}`, reconnect: true, extra: { ...natsAuth(config), noEcho: true } });
        watchConnection(nc, logger.child({ actor: 'bus' }));
        const peer = new Peer(
          { nc, logger },
          {
            dir,
            peerId: opts.id,
            host: config.peer.host,
            listen: opts.listen,
            port: config.peer.port,
            prefix: config.prefix,
            peer: config.peer,
            download: config.download,
            followExternalSymlinks: opts.followSymlinks,
          },
        );
        const ready = () => {
          if (isLoopback(peer.endpoint.host)) {
            logger.warn('reachable only from this machine', { actor: 'peer', peerId: peer.peerId, endpoint: `${peer.endpoint.host}:${peer.endpoint.port}`, hint: 'start with --host <LAN address> to serve other hosts' });
          }
          logger.info('peer ready', { actor: 'peer', peerId: peer.peerId, endpoint: `${peer.endpoint.host}:${peer.endpoint.port}` });
        };
        await runDaemon(peer, { nc, logger, ready });
      }),
    );
}

/** --dir must be a folder (or not exist yet): a file there is a usage error, not ENOTDIR later. */
function checkDir(given: string, dir: string): void {
  try {
    if (!statSync(dir).isDirectory()) throw new BadRequestError(`--dir ${given} is a file, not a folder: give a folder for the peer (it is created when missing)`);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR') throw new BadRequestError(`--dir ${given}: part of that path is a file, not a folder`);
    if (code !== 'ENOENT') throw err;
  }
}

/** A fixed --port already taken is a usage error with a hint, not a raw EADDRINUSE. */
function checkPort(host: string, port: number): Promise<void> {
  return new Promise((resolveCheck, reject) => {
    const probe = createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') reject(new BadRequestError(`--port ${port} is already in use on ${host}: stop what uses it, choose another port, or --port 0 for any free one`));
      else if (err.code === 'EACCES') reject(new BadRequestError(`--port ${port} on ${host} needs privileges: choose a port above 1023, or --port 0`));
      else reject(err);
    });
    probe.listen(port, host, () => probe.close(() => resolveCheck()));
  });
}
