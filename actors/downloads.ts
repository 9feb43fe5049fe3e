// The peer's downloads: takes intents (a new session, or attach to the one running for that
// target), cancels, answers status and trace requests, keeps one fetch per fileId at a time (file
// locks), persists intents and outcomes (history) and resumes unfinished ones on start. Work is
// bounded (issue 9, class 6): `limits.maxRunning` downloads do I/O at once (a DownloadLimiter
// slot from prepare to release), at most maxRunning + maxQueued are kept at all (beyond, the one
// idle longest is dropped, else BUSY), and a finished session is freed at once.
import type { NatsConnection, Subscription } from 'nats';
import type { Logger } from 'winston';
import type { Clock } from '../src/clock.js';
import { DEFAULT_DOWNLOAD_LIMITS, DownloadLimiter, type DownloadLimits } from '../src/download-limits.js';
import { BadRequestError, BusyError, NotFoundError, P2PError, toP2PError } from '../src/errors.js';
import { newDownloadId } from '../src/protocol/ids.js';
import { PROTOCOL_VERSION, type DownloadInfo, type Endpoint, type IntentRequest, type SharedFile } from '../src/protocol/messages.js';
import { Requests, at } from '../src/protocol/routes.js';
import type { Subjects } from '../src/protocol/subjects.js';
import { DownloadHistory, type StoredDownload } from '../src/store/history.js';
import { readTrace } from '../src/store/traces.js';
import { serveRoute } from '../src/transport/bus.js';
import { DownloadSession, type SessionDeps, type SessionInit } from './download-session.js';
import { statusPage, traceBudget, tracePage, TRACE_PAGE } from './download-replies.js';

/** Finished downloads kept in memory (and in the history) at most; the oldest go first. */
const MAX_FINISHED = 10_000;

export interface DownloadsComponents {
  nc: NatsConnection;
  logger: Logger;
  clock: Clock;
  subjects: Subjects;
  /** what every session shares: I/O, lookup, availability (see SessionDeps) */
  session: Omit<SessionDeps, 'nc' | 'logger' | 'clock' | 'subjects' | 'peerId' | 'onChange' | 'acquireFile' | 'tracesDir' | 'config'>;
}

export interface DownloadsOptions {
  peerId: string;
  dir: string;
  historyFile: string;
  tracesDir: string;
  download: SessionDeps['config'];
  /** downloads doing I/O at once, and kept waiting beyond those (peer.maxDownloads, peer.maxQueuedDownloads) */
  limits?: DownloadLimits;
  /** the rest of a status reply: where we listen, what we share, what we served */
  describePeer: () => { endpoint: Endpoint; shared: SharedFile[]; served: { chunks: number; bytes: number } };
}

export class Downloads {
  private readonly log: Logger;
  private readonly history: DownloadHistory;
  private readonly sessions = new Map<string, DownloadSession>();
  private readonly finishedInfo: StoredDownload[] = [];
  private readonly limits: DownloadLimits;
  /** I/O slots: held from prepare (file lock taken) to release */
  private readonly slots: DownloadLimiter;
  private slotSeq = 0;
  private readonly fileLocks = new Map<string, Promise<void>>();
  private subs: Subscription[] = [];
  private stopped = false;

  constructor(
    private readonly components: DownloadsComponents,
    private readonly options: DownloadsOptions,
  ) {
    this.log = components.logger;
    this.history = new DownloadHistory(options.historyFile, this.log);
    this.limits = options.limits ?? DEFAULT_DOWNLOAD_LIMITS;
    this.slots = new DownloadLimiter(this.limits);
  }

  /** Answer intents, cancels, status and trace requests (then `resume()` unfinished downloads). */
  async start(): Promise<void> {
    const { nc, subjects } = this.components;
    const { peerId } = this.options;
    const opts = { log: this.log };
    this.subs.push(
      serveRoute(nc, at(Requests.intent, subjects, peerId), (m) => this.onIntent(m), opts),
      serveRoute(nc, at(Requests.cancel, subjects, peerId), (m) => this.onCancel(m.downloadId), opts),
      serveRoute(nc, at(Requests.status, subjects, peerId), (m) => this.onStatus(m.downloadId, m.cursor), opts),
      serveRoute(nc, at(Requests.trace, subjects, peerId), (m) => this.onTrace(m.downloadId, m.from), opts),
    );
    await nc.flush();
  }

  /** Stop answering, halt running downloads (they resume on restart), save the history. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const sub of this.subs) sub.unsubscribe();
    await Promise.all([...this.sessions.values()].filter((d) => !d.finished).map((d) => d.halt()));
    await this.saveHistory();
  }

  private newSession(init: SessionInit): DownloadSession {
    const { nc, logger, clock, subjects, session } = this.components;
    const deps: SessionDeps = {
      ...session,
      nc,
      logger,
      clock,
      subjects,
      peerId: this.options.peerId,
      config: this.options.download,
      tracesDir: this.options.tracesDir,
      onChange: () => void this.saveHistory(),
      acquireFile: (fileId) => this.acquireWork(init.downloadId, fileId),
    };
    const s = new DownloadSession(deps, init);
    this.sessions.set(init.downloadId, s);
    return s;
  }

  /** Start a session; a refused start (e.g. a symlink planted as its trace file) leaves no zombie. */
  private startSession(init: SessionInit): DownloadSession {
    const s = this.newSession(init);
    try {
      s.start();
    } catch (err) {
      this.sessions.delete(init.downloadId);
      throw toP2PError(err);
    }
    void s.whenFinished().then(() => this.retire(s));
    return s;
  }

  /** A finished session leaves memory: its record stays (bounded) for status, trace and history. */
  private retire(s: DownloadSession, error?: { code: string; message: string }): void {
    if (this.sessions.get(s.id) !== s) return;
    this.sessions.delete(s.id);
    this.finishedInfo.push({ ...s.info, ...(error ? { error } : {}) });
    if (this.finishedInfo.length > MAX_FINISHED) this.finishedInfo.splice(0, this.finishedInfo.length - MAX_FINISHED);
    if (error) void this.saveHistory();
  }

  /**
   * Room for one more download: below the cap, or by dropping the download that has waited
   * longest without a single verified chunk (retrying a lookup that finds nothing). Else BUSY.
   */
  private makeRoom(): void {
    const cap = this.limits.maxRunning + this.limits.maxQueued;
    if (this.sessions.size < cap) return;
    let idlest: DownloadSession | undefined;
    for (const s of this.sessions.values()) {
      if (s.idle && (!idlest || s.info.startedAt < idlest.info.startedAt)) idlest = s;
    }
    if (!idlest) {
      throw new BusyError(`this peer keeps ${cap} downloads at most (peer.maxDownloads ${this.limits.maxRunning} + peer.maxQueuedDownloads ${this.limits.maxQueued}) and all of them are at work; try again later`);
    }
    this.log.warn('download dropped to make room', { downloadId: idlest.id, target: idlest.info.target.slice(0, 64), cap });
    idlest.cancel();
    this.retire(idlest, { code: 'BUSY', message: `dropped to make room: this peer keeps ${cap} downloads at most and this one had found nothing to fetch` });
  }

  private onIntent(m: IntentRequest) {
    if (this.stopped) throw new P2PError('BUSY', 'peer is stopping');
    const running = [...this.sessions.values()].find((d) => !d.finished && (d.info.target === m.target || d.info.fileId === m.target));
    if (running) return { v: PROTOCOL_VERSION, ok: true as const, downloadId: running.id, attached: true };
    const downloadId = m.downloadId ?? newDownloadId(this.components.clock.now());
    if (this.sessions.has(downloadId) || this.finishedInfo.some((d) => d.downloadId === downloadId)) {
      throw new BadRequestError(`download id ${downloadId} is already used on this peer`);
    }
    this.makeRoom();
    const s = this.startSession({ downloadId, target: m.target, maxRetries: m.maxRetries ?? this.options.download.maxRetries });
    return { v: PROTOCOL_VERSION, ok: true as const, downloadId: s.id, attached: false };
  }

  private onCancel(downloadId: string) {
    const s = this.sessions.get(downloadId);
    // a finished download has left `sessions`: cancelling it does nothing, as before
    if (!s && !this.finishedInfo.some((d) => d.downloadId === downloadId)) throw new NotFoundError(`no download ${downloadId} on this peer`);
    s?.cancel();
    return { v: PROTOCOL_VERSION, ok: true as const };
  }

  /**
   * What prepare waits for: the file's lock, then an I/O slot (in arrival order). The returned
   * function lets go of both. A slot id is new per attempt, so a retry never meets its old slot.
   */
  private async acquireWork(downloadId: string, fileId: string): Promise<() => void> {
    const unlockFile = await this.acquireFile(fileId);
    const slot = `${downloadId}#${++this.slotSeq}`;
    try {
      await new Promise<void>((resolve) => this.slots.admit(slot, resolve));
    } catch (err) {
      unlockFile();
      throw err;
    }
    return () => {
      this.slots.release(slot);
      unlockFile();
    };
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

  /** Start again every download the history says was running when we stopped. */
  async resume(): Promise<void> {
    const stored = await this.history.load();
    for (const d of stored) {
      if (d.status !== 'running') {
        this.finishedInfo.push(d);
        continue;
      }
      this.log.info('resuming download', { downloadId: d.downloadId, target: d.target });
      const seq = await readTrace(this.options.tracesDir, d.downloadId, 1).then((t) => t.lastSeq + 1).catch(() => 0);
      try {
        this.startSession({ downloadId: d.downloadId, target: d.target, maxRetries: d.maxRetries ?? this.options.download.maxRetries, startedAt: d.startedAt, seq });
      } catch (err) {
        this.log.warn('cannot resume download', { downloadId: d.downloadId, err: (err as Error).message });
      }
    }
  }

  /** Finished downloads from the history, then every session (running or finished), as the wire shows them. */
  private allDownloads(): DownloadInfo[] {
    const live = [...this.sessions.values()].map((s) => s.info);
    const liveIds = new Set(live.map((d) => d.downloadId));
    const finished = this.finishedInfo.filter((d) => !liveIds.has(d.downloadId)).map(({ maxRetries: _m, ...info }) => info);
    return [...finished, ...live];
  }

  private saveHistory(): Promise<void> {
    return this.history.save(() => this.allDownloads());
  }

  /** A page of the status (download-replies.ts): every reply fits the broker's max payload. */
  private onStatus(downloadId: string | undefined, cursor: number | undefined) {
    const downloads = this.allDownloads().filter((d) => downloadId === undefined || d.downloadId === downloadId);
    if (downloadId !== undefined && downloads.length === 0) throw new NotFoundError(`no download ${downloadId} on this peer`);
    const { endpoint, shared, served } = this.options.describePeer();
    const head = { v: PROTOCOL_VERSION, ok: true as const, peerId: this.options.peerId, endpoint, dir: this.options.dir, served };
    return statusPage(this.components.nc, head, downloadId !== undefined ? [] : shared, downloads, cursor);
  }

  private async onTrace(downloadId: string, from: number | undefined) {
    const known = this.sessions.get(downloadId) ?? this.finishedInfo.find((d) => d.downloadId === downloadId);
    if (!known) throw new NotFoundError(`no download ${downloadId} on this peer`);
    const { nc } = this.components;
    return tracePage(nc, await readTrace(this.options.tracesDir, downloadId, TRACE_PAGE, from, traceBudget(nc)));
  }
}
