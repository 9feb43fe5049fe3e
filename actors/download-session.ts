// One download inside a peer: runs the pure download machine with the peer's real I/O provided
// (download-io.ts), follows the file's availability into the machine (`sources.updated`), and
// turns every snapshot into the download's views with toDownloadInfo: the trace file
// (src/store/traces.ts) and the progress and trace events on NATS. It keeps no copy of the state.
import type { NatsConnection } from 'nats';
import type { Logger } from 'winston';
import { createActor, fromPromise, type Actor } from 'xstate';
import { downloadMachine, type LookupInput, type LookupResult } from '../machines/download.js';
import { isFinal, stateOf, toDownloadInfo, traceDetail } from '../machines/download-info.js';
import type { Clock } from '../src/clock.js';
import { PROTOCOL_VERSION, type DownloadInfo } from '../src/protocol/messages.js';
import { Events, at } from '../src/protocol/routes.js';
import type { Subjects } from '../src/protocol/subjects.js';
import { publishEvent } from '../src/transport/bus.js';
import { TraceLog } from '../src/store/traces.js';
import { downloadIo, releasePrepared, type DownloadIoDeps } from './download-io.js';
import { SwarmNews } from '../src/download/news.js';

/** What a session needs from its peer. */
export interface SessionDeps extends DownloadIoDeps {
  nc: NatsConnection;
  logger: Logger;
  clock: Clock;
  subjects: Subjects;
  peerId: string;
  tracesDir: string;
  /** resolve a target (name or fileId) to a file, its sources (not us) and our local copy if any */
  lookup: (target: string) => Promise<LookupResult>;
  /** every change worth saving (state change or finish) */
  onChange: (session: DownloadSession) => void;
}

export interface SessionInit {
  downloadId: string;
  target: string;
  maxRetries: number;
  startedAt?: number;
  /** first trace sequence number (a resumed download goes on from its last one) */
  seq?: number;
}

/**
 * Availability messages heard within this window reach the machine as one `sources.updated`
 * (neighbours announce every 50 ms each; a machine event per message cost a downloader more CPU).
 */
const NEWS_WINDOW_MS = 25;

/** States in which the session follows its file's availability subject. */
const WATCHING = new Set(['preparing', 'fetching', 'retrying']);

/** A running (or finished) download. */
export class DownloadSession {
  private readonly actor: Actor<typeof downloadMachine>;
  private trace: TraceLog | undefined;
  private seq: number;
  private prevState = 'init';
  private lastProgressTrace = 0;
  private lastProgressPublish = 0;
  private finishedAt: number | undefined;
  private readonly log: Logger;
  private readonly finishedWaiters: Array<() => void> = [];
  private watching: { fileId: string; chunkCount: number; stop: () => void } | undefined;

  constructor(
    private readonly deps: SessionDeps,
    init: SessionInit,
  ) {
    this.seq = init.seq ?? 0;
    this.log = deps.logger.child({ downloadId: init.downloadId });
    const io = downloadIo(deps, this.log);
    const machine = downloadMachine.provide({
      actors: { ...io.actors, lookup: fromPromise<LookupResult, LookupInput>(({ input }) => deps.lookup(input.target)) },
      actions: { release: ({ context }) => io.release(context.prepared) },
    });
    const { config } = deps;
    this.actor = createActor(machine, {
      input: {
        downloadId: init.downloadId,
        target: init.target,
        maxRetries: init.maxRetries,
        retryBaseMs: config.retryBaseMs,
        retryMaxMs: config.retryMaxMs,
        startedAt: init.startedAt ?? deps.clock.now(),
      },
      inspect: (ev) => {
        if (ev.type === '@xstate.snapshot' && ev.actorRef === this.actor) this.onSnapshot(eventName(ev.event.type));
      },
    });
  }

  get id(): string {
    return this.actor.getSnapshot().context.downloadId;
  }

  /** The download as status and progress show it, derived from the machine's snapshot. */
  get info(): DownloadInfo {
    const info: DownloadInfo = toDownloadInfo(this.actor.getSnapshot());
    if (this.finishedAt !== undefined) info.finishedAt = this.finishedAt;
    return info;
  }

  /** Retrying without a single verified chunk: the first to go when the peer is full (class 6). */
  get idle(): boolean {
    const snap = this.actor.getSnapshot();
    return stateOf(snap) === 'retrying' && snap.context.verifiedChunks === 0 && snap.context.prepared === undefined;
  }

  get finished(): boolean {
    return isFinal(this.actor.getSnapshot());
  }

  /** Resolves when the machine reaches a final state. */
  whenFinished(): Promise<void> {
    if (this.finished) return Promise.resolve();
    return new Promise((resolve) => this.finishedWaiters.push(resolve));
  }

  /** Open the trace file (throws if it is refused) and start the machine. */
  start(): void {
    this.trace = new TraceLog(this.deps.tracesDir, this.id, (err) => this.log.warn('trace write failed', { err: err.message }));
    this.log.info('download started', { target: this.actor.getSnapshot().context.target });
    this.actor.start();
  }

  cancel(): void {
    this.actor.send({ type: 'cancel' });
  }

  /** Stop without finishing (peer shutdown): the intent stays persisted as running for resume. */
  async halt(): Promise<void> {
    const { prepared } = this.actor.getSnapshot().context;
    this.actor.stop();
    this.unwatch();
    await releasePrepared(prepared);
    await this.trace?.close();
  }

  private onSnapshot(eventType: string): void {
    const snap = this.actor.getSnapshot();
    const to = stateOf(snap);
    const final = isFinal(snap);
    const now = this.deps.clock.now();
    if (final) this.finishedAt ??= now;
    const info = this.info;
    const changed = to !== this.prevState;
    // progress and availability news are frequent: traced at most once a second unless the state changes
    const frequent = eventType === 'fetch.progress' || eventType === 'sources.updated';
    if (changed || !frequent || now - this.lastProgressTrace >= 1000 || final) {
      if (frequent) this.lastProgressTrace = now;
      const entry = {
        downloadId: this.id,
        seq: this.seq++,
        ts: now,
        from: this.prevState,
        to,
        event: eventType.slice(0, 64),
        verifiedChunks: info.verifiedChunks,
        totalChunks: info.totalChunks,
        bytes: info.bytes,
        sources: info.sources,
        retries: info.retries,
        attempts: info.attempts,
        ...(traceDetail(snap) !== undefined ? { detail: traceDetail(snap) } : {}),
        final,
      };
      this.log.debug('transition', { from: entry.from, to, event: entry.event });
      this.trace?.append(entry);
      publishEvent(this.deps.nc, at(Events.trace, this.deps.subjects, this.deps.peerId, this.id), { v: PROTOCOL_VERSION, peerId: this.deps.peerId, ...entry }, this.log);
    }
    this.prevState = to;
    if (changed || final || now - this.lastProgressPublish >= this.deps.config.progressMs) {
      this.lastProgressPublish = now;
      publishEvent(this.deps.nc, at(Events.progress, this.deps.subjects, this.deps.peerId, this.id), { v: PROTOCOL_VERSION, peerId: this.deps.peerId, ...info }, this.log);
    }
    this.followSwarm(final ? undefined : WATCHING.has(to) ? snap.context.file : undefined);
    if (changed || final) this.deps.onChange(this);
    if (final) {
      if (info.status === 'failed') this.log.warn('download failed', { error: info.error });
      else this.log.info('download finished', { status: info.status, path: info.path, bytes: info.totalBytes });
      void this.trace?.close();
      for (const w of this.finishedWaiters.splice(0)) w();
    }
  }

  /** Follow who has what of the file, into the machine; stop when there is no file to follow. */
  private followSwarm(file: { fileId: string; chunkCount: number } | undefined): void {
    // the chunk count may change once the manifest is verified (a liar's claims replaced)
    if (file?.fileId === this.watching?.fileId && file?.chunkCount === this.watching?.chunkCount) return;
    this.unwatch();
    if (!file) return;
    const news = new SwarmNews(this.deps.clock, {
      chunkCount: file.chunkCount,
      windowMs: NEWS_WINDOW_MS,
      deliver: ({ sources, changes }) => this.actor.send({ type: 'sources.updated', sources, changes }),
    });
    const unsubscribe = this.deps.availability.watch(file.fileId, file.chunkCount, (source, change) => news.add(source, change));
    const stop = () => {
      unsubscribe();
      news.stop();
    };
    this.watching = { fileId: file.fileId, chunkCount: file.chunkCount, stop };
  }

  private unwatch(): void {
    this.watching?.stop();
    this.watching = undefined;
  }
}

/** Readable event names for traces: xstate.done.actor.lookup → lookup.done, after.retryDelay… → retry.timer */
export function eventName(type: string): string {
  const done = /^xstate\.done\.actor\.(\w+)/.exec(type);
  if (done) return `${done[1]}.done`;
  const error = /^xstate\.error\.actor\.(\w+)/.exec(type);
  if (error) return `${error[1]}.error`;
  if (type.startsWith('xstate.after.')) return 'retry.timer';
  if (type === 'xstate.init') return 'start';
  return type;
}
