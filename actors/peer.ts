// The peer actor, a composition root: it builds its collaborators from the injected components
// and its options, wires them to each other, and starts and stops them in order. Each one is its
// own file: the Library (src/store/library.ts, what we share), the ChunkServer
// (src/transport/chunk-server.ts, chunks over TCP), SwarmAvailability (./availability.ts, who has
// which chunks), the TrackerClient (./tracker-client.ts, announce/heartbeat/rescan/lookup) and
// Downloads (./downloads.ts, intents, sessions, history, status, traces).
import { randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { NatsConnection } from 'nats';
import type { Logger } from 'winston';
import type { Config } from '../config/index.js';
import { systemClock, type Clock } from '../src/clock.js';
import { PeerIdentity } from '../src/identity.js';
import { isToken } from '../src/protocol/ids.js';
import type { Endpoint, FileMeta } from '../src/protocol/messages.js';
import { subjects as makeSubjects, type Subjects } from '../src/protocol/subjects.js';
import { ensureRealDir, writeFileAtomic } from '../src/store/fence.js';
import { Library, toMeta } from '../src/store/library.js';
import type { Manifest } from '../src/store/manifest.js';
import { ChunkServer } from '../src/transport/chunk-server.js';
import { FairThrottle } from '../src/transport/rate-limit.js';
import { loadDataPlaneSecurity } from '../src/transport/security.js';
import { SwarmAvailability } from './availability.js';
import { PeerKeys } from './peer-keys.js';
import { Downloads } from './downloads.js';
import { TrackerClient } from './tracker-client.js';

/** Plain options of a peer (from config + flags). */
export interface PeerOptions {
  dir: string;
  peerId?: string;
  /** address announced to other peers ('' → the listen address, or 127.0.0.1) */
  host: string;
  /** address the chunk server binds ('' → 0.0.0.0 when host is given, else 127.0.0.1) */
  listen?: string;
  port: number;
  prefix: string;
  peer: Config['peer'];
  download: Config['download'];
  followExternalSymlinks?: boolean;
}

export class Peer {
  readonly subjects: Subjects;
  peerId = '';
  endpoint: Endpoint = { host: '127.0.0.1', port: 1 };
  private log: Logger;
  private readonly clock: Clock;
  private library!: Library;
  private server!: ChunkServer;
  private availability: SwarmAvailability | undefined;
  private tracker: TrackerClient | undefined;
  private downloads: Downloads | undefined;
  private stopped = false;
  private readonly paths: { shared: string; downloads: string; chunks: string; meta: string; traces: string };

  constructor(
    private readonly components: { nc: NatsConnection; logger: Logger; clock?: Clock },
    private readonly options: PeerOptions,
  ) {
    this.subjects = makeSubjects(options.prefix);
    this.clock = components.clock ?? systemClock;
    this.log = components.logger.child({ actor: 'peer' });
    const meta = join(options.dir, '.p2p');
    this.paths = {
      shared: join(options.dir, 'shared'),
      downloads: join(options.dir, 'downloads'),
      chunks: join(options.dir, 'downloads', 'chunks'),
      meta,
      traces: join(meta, 'traces'),
    };
  }

  /** Create folders, index files, listen for chunks, announce, take intents, resume downloads. */
  async start(): Promise<void> {
    const { nc } = this.components;
    const { clock, subjects, paths, options } = this;
    // a bad key or certificate is a configuration error: fail before touching anything
    const security = loadDataPlaneSecurity(options.peer);
    // everything we write lives in real directories, never behind a planted symlink
    await mkdir(paths.shared, { recursive: true });
    for (const d of [paths.downloads, paths.chunks, paths.meta, paths.traces]) await ensureRealDir(d);
    this.peerId = await this.loadPeerId();
    const log = (this.log = this.components.logger.child({ actor: 'peer', peerId: this.peerId }));
    const identity = await PeerIdentity.loadOrCreate(join(paths.meta, 'identity.key'));
    const { minChunkSize, maxChunks, largeFileSize, uploadBps, downloadBps, uploadSlots, maxConnections, maxConnectionsPerAddress, idleTimeoutMs, frameTimeoutMs } = options.peer;
    const library = (this.library = new Library({ logger: log }, { dir: options.dir, minChunkSize, maxChunks, largeFileSize, followExternalSymlinks: options.followExternalSymlinks }));
    await library.load();
    await library.scan({ settle: false });

    const bindHost = options.listen || (options.host ? '0.0.0.0' : '127.0.0.1');
    for (const warning of security.warnings) log.warn(warning);
    const availability = (this.availability = new SwarmAvailability(
      { nc, logger: log, subjects, identity, keys: new PeerKeys((peerId) => this.tracker!.keyOf(peerId), clock) },
      { peerId: this.peerId, endpoint: () => this.endpoint, holds: (fileId) => library.get(fileId)?.manifest.hashes.length },
    ));
    this.server = new ChunkServer(
      {
        logger: log.child({ actor: 'chunk-server' }),
        resolve: (fileId) => {
          const f = library.get(fileId);
          if (f) return { fileId: f.fileId, path: f.path, manifest: f.manifest };
          // a download in progress: its verified chunks only
          const partial = availability.partial(fileId);
          return partial ? { fileId, path: partial.partPath, manifest: partial.manifest, has: (i) => partial.has(i) } : undefined;
        },
        throttle: uploadBps > 0 ? new FairThrottle({ rateBps: uploadBps }) : undefined,
        security: security.server,
      },
      { host: bindHost, port: options.port, maxConnections, maxConnectionsPerAddress, idleTimeoutMs, frameTimeoutMs, uploadSlots },
    );
    const tracker = (this.tracker = new TrackerClient(
      { nc, logger: log, clock, subjects, identity, library },
      { peerId: this.peerId, endpoint: () => this.endpoint, heartbeatMs: options.peer.heartbeatMs, rescanMs: options.peer.rescanMs },
    ));
    this.downloads = new Downloads(
      {
        nc,
        logger: log,
        clock,
        subjects,
        session: {
          chunksDir: paths.chunks,
          downloadsDir: paths.downloads,
          availability,
          downloadCap: downloadBps > 0 ? new FairThrottle({ rateBps: downloadBps }) : undefined,
          security: security.client,
          lookup: (target) => tracker.lookup(target),
          onJoined: (path, manifest, file) => this.onJoined(path, manifest, file),
        },
      },
      {
        peerId: this.peerId,
        dir: options.dir,
        historyFile: join(paths.meta, 'downloads.json'),
        tracesDir: paths.traces,
        download: options.download,
        limits: { maxRunning: options.peer.maxDownloads, maxQueued: options.peer.maxQueuedDownloads },
        describePeer: () => ({
          endpoint: this.endpoint,
          // every shared file: a status pages (download-replies.ts)
          shared: library.files().map((f) => ({ ...toMeta(f), origin: f.origin, path: f.path })),
          served: this.served,
        }),
      },
    );

    // before anything answers under our id: is it ours? (IdTakenError: exit code 6)
    await tracker.checkId();
    const { port } = await this.server.start();
    this.endpoint = { host: options.host || (bindHost === '0.0.0.0' ? '127.0.0.1' : bindHost), port };
    availability.start();
    await this.downloads.start();
    await tracker.start();
    log.info('peer started', { endpoint: `${this.endpoint.host}:${this.endpoint.port}`, files: library.count(), dir: options.dir });
    await this.downloads.resume();
  }

  /** Leave cleanly: tell the tracker, stop serving, halt downloads (they resume on restart). Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.tracker?.stop();
    this.availability?.stop();
    await this.downloads?.stop();
    await this.server?.stop();
    await this.components.nc.flush().catch(() => undefined);
    this.log.info('peer stopped');
  }

  /** Chunks and bytes served so far (tests and status). */
  get served(): { chunks: number; bytes: number } {
    return { chunks: this.server.stats.chunks, bytes: this.server.stats.bytes };
  }

  /** A finished download is served: indexed, told to its downloaders, announced. */
  private async onJoined(path: string, manifest: Manifest, file: FileMeta): Promise<void> {
    const entry = await this.library.addDownloaded(path, manifest, path.split('/').pop()!);
    this.log.info('now serving downloaded file', { name: entry.name, fileId: file.fileId });
    this.availability?.announceComplete(file.fileId, manifest.hashes.length);
    await this.tracker?.announceChanges([entry], []);
  }

  private async loadPeerId(): Promise<string> {
    const file = join(this.paths.meta, 'peer-id');
    if (this.options.peerId) {
      await writeFileAtomic(file, this.options.peerId + '\n');
      return this.options.peerId;
    }
    try {
      const id = (await readFile(file, 'utf8')).trim();
      if (isToken(id)) return id;
    } catch {
      // first start
    }
    const id = `peer-${randomBytes(4).toString('hex')}`;
    await writeFileAtomic(file, id + '\n');
    return id;
  }
}
