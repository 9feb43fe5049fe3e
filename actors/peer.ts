// The peer actor: shares DIR/shared/ and its finished downloads, serves chunks over TCP,
// announces and heartbeats to the tracker, takes download intents over NATS and runs one
// download machine (DownloadSession) per intent, answers status and trace requests.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { NatsConnection, Subscription } from 'nats';
import type { Logger } from 'winston';
import type { Config } from '../config/index.js';
import type { LookupResult } from '../machines/download.js';
import {
  ANNOUNCE_BATCH,
  Ack,
  AnnounceRequest,
  CancelRequest,
  HeartbeatReply,
  IntentRequest,
  LookupReply,
  PROTOCOL_VERSION,
  StatusRequest,
  TraceRequest,
  TrackerHello,
  type Endpoint,
  type FileMeta,
  type IntentReply,
  type LookupMatch,
  type StatusReply,
  type TraceReply,
} from '../src/protocol/messages.js';
import { subjects as makeSubjects, type Subjects } from '../src/protocol/subjects.js';
import { listen, publish, request, serve } from '../src/transport/bus.js';
import { ChunkServer } from '../src/transport/chunk-server.js';
import { Library, toMeta, type LibraryFile } from '../src/store/library.js';
import { DownloadHistory, type StoredDownload } from '../src/store/history.js';
import type { Manifest } from '../src/store/manifest.js';
import { BadRequestError, NotFoundError, P2PError, toP2PError } from '../src/errors.js';
import { DownloadSession } from './download-session.js';
import { SwarmAvailability } from './availability.js';
import { FairThrottle } from '../src/transport/rate-limit.js';
import { loadDataPlaneSecurity, type ClientSecurity } from '../src/transport/security.js';
import { readTrace } from '../src/store/traces.js';
import { PeerIdentity } from '../src/identity.js';
import { ensureRealDir, writeFileAtomic } from '../src/store/fence.js';

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

const FILE_ID = /^[0-9a-f]{64}$/;

export class Peer {
  readonly subjects: Subjects;
  peerId = '';
  endpoint: Endpoint = { host: '127.0.0.1', port: 1 };
  private log: Logger;
  private library!: Library;
  private server!: ChunkServer;
  private availability!: SwarmAvailability;
  /** the download cap shared by every download of this peer (undefined: unlimited) */
  private downloadCap: FairThrottle | undefined;
  /** swarm key and TLS for the chunk connections our downloads open */
  private clientSecurity: ClientSecurity = {};
  private history!: DownloadHistory;
  /** signs announces, heartbeats and byes: the tracker binds our id to this key */
  private identity!: PeerIdentity;
  private readonly sessions = new Map<string, DownloadSession>();
  private readonly finishedInfo: StoredDownload[] = [];
  private readonly fileLocks = new Map<string, Promise<void>>();
  private subs: Subscription[] = [];
  private timers: NodeJS.Timeout[] = [];
  private stopped = false;
  private started = false;
  private announcing: Promise<void> | undefined;
  private readonly paths: { shared: string; downloads: string; chunks: string; meta: string; traces: string };

  constructor(
    private readonly components: { nc: NatsConnection; logger: Logger },
    private readonly options: PeerOptions,
  ) {
    this.subjects = makeSubjects(options.prefix);
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
    // a bad key or certificate is a configuration error: fail before touching anything
    const security = loadDataPlaneSecurity(this.options.peer);
    // everything we write lives in real directories, never behind a planted symlink
    await mkdir(this.paths.shared, { recursive: true });
    for (const d of [this.paths.downloads, this.paths.chunks, this.paths.meta, this.paths.traces]) await ensureRealDir(d);
    this.peerId = await this.loadPeerId();
    this.log = this.components.logger.child({ actor: 'peer', peerId: this.peerId });
    this.history = new DownloadHistory(join(this.paths.meta, 'downloads.json'));
    this.identity = await PeerIdentity.loadOrCreate(join(this.paths.meta, 'identity.key'));
    this.library = new Library(
      { logger: this.log },
      { dir: this.options.dir, minChunkSize: this.options.peer.minChunkSize, maxChunks: this.options.peer.maxChunks, followExternalSymlinks: this.options.followExternalSymlinks },
    );
    await this.library.load();
    await this.library.scan({ settle: false });

    const bindHost = this.options.listen || (this.options.host ? '0.0.0.0' : '127.0.0.1');
    const { uploadBps, downloadBps, uploadSlots, maxConnections, maxConnectionsPerAddress, idleTimeoutMs, frameTimeoutMs } = this.options.peer;
    for (const warning of security.warnings) this.log.warn(warning);
    this.clientSecurity = security.client;
    this.downloadCap = downloadBps > 0 ? new FairThrottle({ rateBps: downloadBps }) : undefined;
    this.server = new ChunkServer(
      {
        logger: this.log.child({ actor: 'chunk-server' }),
        resolve: (fileId) => {
          const f = this.library.get(fileId);
          if (f) return { fileId: f.fileId, path: f.path, manifest: f.manifest };
          // a download in progress: its verified chunks only
          const partial = this.availability.partial(fileId);
          return partial ? { fileId, path: partial.partPath, manifest: partial.manifest, has: (i) => partial.has(i) } : undefined;
        },
        throttle: uploadBps > 0 ? new FairThrottle({ rateBps: uploadBps }) : undefined,
        security: security.server,
      },
      { host: bindHost, port: this.options.port, maxConnections, maxConnectionsPerAddress, idleTimeoutMs, frameTimeoutMs, uploadSlots },
    );
    this.availability = new SwarmAvailability(
      { nc, logger: this.log, subjects: this.subjects },
      { peerId: this.peerId, endpoint: () => this.endpoint, holds: (fileId) => this.library.get(fileId)?.manifest.hashes.length },
    );
    const { port } = await this.server.start();
    this.endpoint = { host: this.options.host || (bindHost === '0.0.0.0' ? '127.0.0.1' : bindHost), port };
    this.availability.start();

    const s = this.subjects;
    const opts = (what: string) => ({ log: this.log, what });
    this.subs.push(
      serve(nc, s.intent(this.peerId), IntentRequest, (m) => this.onIntent(m), opts('intent')),
      serve(nc, s.cancel(this.peerId), CancelRequest, (m) => this.onCancel(m.downloadId), opts('cancel')),
      serve(nc, s.status(this.peerId), StatusRequest, (m) => this.onStatus(m.downloadId), opts('status request')),
      serve(nc, s.trace(this.peerId), TraceRequest, (m) => this.onTrace(m.downloadId), opts('trace request')),
      listen(nc, s.hello, TrackerHello, () => this.onTrackerHello(), opts('tracker hello')),
    );
    await nc.flush();
    this.started = true;
    this.log.info('peer started', { endpoint: `${this.endpoint.host}:${this.endpoint.port}`, files: this.library.count(), dir: this.options.dir });

    await this.announceAll().catch((err) => this.log.warn('announce failed, will retry', { err: (err as Error).message }));
    this.timers.push(setInterval(() => void this.heartbeat(), this.options.peer.heartbeatMs));
    this.timers.push(setInterval(() => void this.rescan(), this.options.peer.rescanMs));
    await this.resumeDownloads();
  }

  /** Leave cleanly: tell the tracker, stop serving, halt downloads (they resume on restart). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    if (this.started) publish(this.components.nc, this.subjects.bye, { v: PROTOCOL_VERSION, peerId: this.peerId }, this.log, this.sign);
    for (const sub of this.subs) sub.unsubscribe();
    this.availability?.stop();
    await Promise.all([...this.sessions.values()].filter((d) => !d.finished).map((d) => d.halt()));
    await this.saveHistory();
    await this.server?.stop();
    await this.components.nc.flush().catch(() => undefined);
    this.log.info('peer stopped');
  }

  /** Chunks and bytes served so far (tests and status). */
  get served(): { chunks: number; bytes: number } {
    return { chunks: this.server.stats.chunks, bytes: this.server.stats.bytes };
  }

  private async loadPeerId(): Promise<string> {
    const file = join(this.paths.meta, 'peer-id');
    if (this.options.peerId) {
      await writeFileAtomic(file, this.options.peerId + '\n');
      return this.options.peerId;
    }
    try {
      const id = (await readFile(file, 'utf8')).trim();
      if (/^[A-Za-z0-9_-]{1,64}$/.test(id)) return id;
    } catch {
      // first start
    }
    const id = `peer-${randomBytes(4).toString('hex')}`;
    await writeFileAtomic(file, id + '\n');
    return id;
  }

  // ---- tracker side ----------------------------------------------------------------------

  private readonly sign = (subject: string, payload: Uint8Array) => this.identity.sign(subject, payload);

  private trackerRequest<T>(subject: string, message: unknown, schema: Parameters<typeof request>[3], signed = false): Promise<T> {
    return request(this.components.nc, subject, message, schema, {
      timeoutMs: 3000,
      who: 'tracker',
      noResponders: () => new P2PError('NO_SOURCES', 'no tracker is answering'),
      sign: signed ? this.sign : undefined,
    }) as Promise<T>;
  }

  /** Announce every file, in batches that keep each message small. */
  private announceAll(): Promise<void> {
    this.announcing ??= (async () => {
      const metas = this.library.metas();
      for (let i = 0; i === 0 || i < metas.length; i += ANNOUNCE_BATCH) {
        await this.sendAnnounce(metas.slice(i, i + ANNOUNCE_BATCH), [], i === 0);
      }
      this.log.info('announced', { files: metas.length });
    })().finally(() => {
      this.announcing = undefined;
    });
    return this.announcing;
  }

  private async sendAnnounce(files: FileMeta[], removed: string[], replace: boolean): Promise<void> {
    const msg: AnnounceRequest = { v: PROTOCOL_VERSION, peerId: this.peerId, endpoint: this.endpoint, replace, files, removed };
    await this.trackerRequest(this.subjects.announce, msg, Ack, true);
  }

  private async heartbeat(): Promise<void> {
    if (this.stopped) return;
    try {
      const reply = await this.trackerRequest<HeartbeatReply>(
        this.subjects.heartbeat,
        { v: PROTOCOL_VERSION, peerId: this.peerId, endpoint: this.endpoint, fileCount: this.library.count() },
        HeartbeatReply,
        true,
      );
      if (!reply.known) {
        this.log.info('tracker does not know us, re-announcing');
        await this.announceAll();
      }
    } catch (err) {
      this.log.debug('heartbeat failed', { err: (err as Error).message });
    }
  }

  private onTrackerHello(): void {
    if (this.stopped) return;
    this.log.info('tracker (re)started, re-announcing');
    void this.announceAll().catch((err) => this.log.warn('announce failed', { err: (err as Error).message }));
  }

  private async rescan(): Promise<void> {
    if (this.stopped) return;
    try {
      const { added, removed } = await this.library.scan();
      if (!added.length && !removed.length) return;
      this.log.info('shared files changed', { added: added.map((f) => f.name), removed: removed.map((f) => f.name) });
      await this.announceChanges(added, removed.map((f) => f.fileId));
    } catch (err) {
      this.log.warn('rescan failed', { err: (err as Error).message });
    }
  }

  private async announceChanges(added: LibraryFile[], removed: string[]): Promise<void> {
    const metas = added.map(toMeta);
    for (let i = 0; i < Math.max(metas.length, removed.length); i += ANNOUNCE_BATCH) {
      await this.sendAnnounce(metas.slice(i, i + ANNOUNCE_BATCH), removed.slice(i, i + ANNOUNCE_BATCH), false).catch((err) =>
        this.log.warn('announce failed', { err: (err as Error).message }),
      );
    }
  }

  /** Resolve a download target for the machine: a local copy wins, else the tracker's best match. */
  private async lookup(target: string): Promise<LookupResult> {
    const isId = FILE_ID.test(target);
    if (isId) {
      const local = this.library.get(target);
      if (local) return { kind: 'found', file: toMeta(local), sources: [], localPath: local.path };
    }
    let matches: LookupMatch[] = [];
    try {
      const reply = await this.trackerRequest<LookupReply>(
        this.subjects.lookup,
        isId ? { v: PROTOCOL_VERSION, fileId: target } : { v: PROTOCOL_VERSION, name: target },
        LookupReply,
      );
      matches = reply.matches;
    } catch (err) {
      if (!isId) {
        const local = this.library.findByName(target)[0];
        if (local) return { kind: 'found', file: toMeta(local), sources: [], localPath: local.path };
      }
      throw err;
    }
    for (const m of matches) {
      const local = this.library.get(m.file.fileId);
      if (local) return { kind: 'found', file: m.file, sources: [], localPath: local.path };
    }
    if (!isId) {
      const local = this.library.findByName(target)[0];
      if (local && matches.length === 0) return { kind: 'found', file: toMeta(local), sources: [], localPath: local.path };
    }
    const best = matches.map((m) => ({ file: m.file, sources: m.sources.filter((s) => s.peerId !== this.peerId) })).sort((a, b) => b.sources.length - a.sources.length)[0];
    if (!best) return { kind: 'missing' };
    return { kind: 'found', file: best.file, sources: best.sources };
  }

  // ---- downloads -------------------------------------------------------------------------

  private newSession(init: { downloadId: string; target: string; maxRetries: number; startedAt?: number; seq?: number }): DownloadSession {
    const session = new DownloadSession(
      {
        nc: this.components.nc,
        logger: this.log,
        subjects: this.subjects,
        peerId: this.peerId,
        config: this.options.download,
        chunksDir: this.paths.chunks,
        availability: this.availability,
        downloadCap: this.downloadCap,
        security: this.clientSecurity,
        downloadsDir: this.paths.downloads,
        tracesDir: this.paths.traces,
        lookup: (t) => this.lookup(t),
        onJoined: (path, manifest, file) => this.onJoined(path, manifest, file),
        onChange: () => void this.saveHistory(),
        acquireFile: (fileId) => this.acquireFile(fileId),
      },
      init,
    );
    this.sessions.set(init.downloadId, session);
    return session;
  }

  private onIntent(m: IntentRequest): IntentReply {
    if (this.stopped) throw new P2PError('BUSY', 'peer is stopping');
    const running = [...this.sessions.values()].find((d) => !d.finished && (d.info.target === m.target || d.info.fileId === m.target));
    if (running) return { v: PROTOCOL_VERSION, ok: true, downloadId: running.id, attached: true };
    let downloadId = m.downloadId ?? `dl-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
    if (this.sessions.has(downloadId) || this.finishedInfo.some((d) => d.downloadId === downloadId)) {
      throw new BadRequestError(`download id ${downloadId} is already used on this peer`);
    }
    const session = this.newSession({ downloadId, target: m.target, maxRetries: m.maxRetries ?? this.options.download.maxRetries });
    try {
      session.start();
    } catch (err) {
      // e.g. a symlink planted as its trace file: refuse the intent, leave no zombie behind
      this.sessions.delete(downloadId);
      throw toP2PError(err);
    }
    downloadId = session.id;
    return { v: PROTOCOL_VERSION, ok: true, downloadId, attached: false };
  }

  private onCancel(downloadId: string): Ack {
    const s = this.sessions.get(downloadId);
    if (!s) throw new NotFoundError(`no download ${downloadId} on this peer`);
    s.cancel();
    return { v: PROTOCOL_VERSION, ok: true };
  }

  /** One fetch per fileId at a time: a second session waits for the first to let go. */
  private async acquireFile(fileId: string): Promise<() => void> {
    while (this.fileLocks.has(fileId)) await this.fileLocks.get(fileId);
    let release!: () => void;
    this.fileLocks.set(fileId, new Promise<void>((r) => (release = r)));
    return () => {
      this.fileLocks.delete(fileId);
      release();
    };
  }

  private async onJoined(path: string, manifest: Manifest, file: FileMeta): Promise<void> {
    const entry = await this.library.addDownloaded(path, manifest, path.split('/').pop()!);
    this.log.info('now serving downloaded file', { name: entry.name, fileId: file.fileId });
    this.availability.announceComplete(file.fileId, manifest.hashes.length);
    await this.announceChanges([entry], []);
  }

  private async resumeDownloads(): Promise<void> {
    const stored = await this.history.load();
    for (const d of stored) {
      if (d.status !== 'running') {
        this.finishedInfo.push(d);
        continue;
      }
      this.log.info('resuming download', { downloadId: d.downloadId, target: d.target });
      const seq = await readTrace(join(this.paths.traces, `${d.downloadId}.jsonl`), 1).then((t) => t.lastSeq + 1).catch(() => 0);
      try {
        this.newSession({ downloadId: d.downloadId, target: d.target, maxRetries: d.maxRetries ?? this.options.download.maxRetries, startedAt: d.startedAt, seq }).start();
      } catch (err) {
        this.sessions.delete(d.downloadId);
        this.log.warn('cannot resume download', { downloadId: d.downloadId, err: (err as Error).message });
      }
    }
  }

  private allDownloads(): StoredDownload[] {
    const live = [...this.sessions.values()].map((s) => ({ ...s.info, maxRetries: undefined }));
    const liveIds = new Set(live.map((d) => d.downloadId));
    return [...this.finishedInfo.filter((d) => !liveIds.has(d.downloadId)), ...live];
  }

  private saveHistory(): Promise<void> {
    return this.history.save(() => this.allDownloads());
  }

  // ---- status and traces -----------------------------------------------------------------

  private onStatus(downloadId: string | undefined): StatusReply {
    const downloads = this.allDownloads()
      .filter((d) => downloadId === undefined || d.downloadId === downloadId)
      .map(({ maxRetries: _m, ...info }) => info);
    if (downloadId !== undefined && downloads.length === 0) throw new NotFoundError(`no download ${downloadId} on this peer`);
    return {
      v: PROTOCOL_VERSION,
      ok: true,
      peerId: this.peerId,
      endpoint: this.endpoint,
      dir: this.options.dir,
      shared: downloadId !== undefined ? [] : this.library.files().slice(0, 10_000).map((f) => ({ ...toMeta(f), origin: f.origin, path: f.path })),
      downloads: downloads.slice(-10_000),
      served: this.served,
    };
  }

  private async onTrace(downloadId: string): Promise<TraceReply> {
    const known = this.sessions.get(downloadId) ?? this.finishedInfo.find((d) => d.downloadId === downloadId);
    if (!known) throw new NotFoundError(`no download ${downloadId} on this peer`);
    const trace = await readTrace(join(this.paths.traces, `${downloadId}.jsonl`), 5000);
    return { v: PROTOCOL_VERSION, ok: true, entries: trace.entries, truncated: trace.truncated, finished: trace.finished };
  }
}
