// One download inside a peer: runs the pure download machine with the peer's real I/O provided
// (tracker lookup over NATS, chunk fetch over TCP, atomic join), records every transition to
// DIR/.p2p/traces/<downloadId>.jsonl and publishes it and the progress on NATS.
import { constants as fsConstants, createWriteStream, openSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import type { NatsConnection } from 'nats';
import type { Logger } from 'winston';
import { createActor, fromCallback, fromPromise, type Actor } from 'xstate';
import {
  downloadMachine,
  type DownloadEvent,
  type FetchInput,
  type JoinInput,
  type JoinResult,
  type LookupInput,
  type LookupResult,
} from '../machines/download.js';
import type { Config } from '../config/index.js';
import { PROTOCOL_VERSION, type DownloadInfo, type FileMeta, type Source, type TraceEntry } from '../src/protocol/messages.js';
import type { Subjects } from '../src/protocol/subjects.js';
import { publish } from '../src/transport/bus.js';
import { fetchManifest, startFetch, type FetchOutcome } from '../src/transport/fetcher.js';
import type { FairThrottle } from '../src/transport/rate-limit.js';
import type { ClientSecurity } from '../src/transport/security.js';
import type { SwarmAvailability } from './availability.js';
import { PartialDownload } from '../src/store/partial.js';
import type { Manifest } from '../src/store/manifest.js';
import { toP2PError, ManifestMismatchError } from '../src/errors.js';

/** What a session needs from its peer. */
export interface SessionDeps {
  nc: NatsConnection;
  logger: Logger;
  subjects: Subjects;
  peerId: string;
  config: Config['download'];
  chunksDir: string;
  /** serves our partial download to others, announces its chunks, finds sources live */
  availability: SwarmAvailability;
  /** the peer's download cap (undefined: unlimited) */
  downloadCap?: FairThrottle;
  /** swarm key and TLS for the chunk connections we open */
  security?: ClientSecurity;
  downloadsDir: string;
  tracesDir: string;
  /** resolve a target (name or fileId) to a file, its sources (not us) and our local copy if any */
  lookup: (target: string) => Promise<LookupResult>;
  /** a finished download becomes a served file */
  onJoined: (path: string, manifest: Manifest, file: FileMeta) => Promise<void>;
  /** every change worth saving (state change or finish) */
  onChange: (session: DownloadSession) => void;
  /** wait while another session of this peer fetches the same fileId */
  acquireFile: (fileId: string, sessionId: string) => Promise<() => void>;
}

const FINAL = new Set(['done', 'failed', 'cancelled']);

/** A running (or finished) download. */
export class DownloadSession {
  readonly info: DownloadInfo;
  private actor: Actor<typeof downloadMachine> | undefined;
  private trace: WriteStream | undefined;
  private seq = 0;
  private prevState = 'init';
  private lastProgressTrace = 0;
  private lastProgressPublish = 0;
  private readonly log: Logger;
  private readonly finishedWaiters: Array<() => void> = [];
  private manifest: Manifest | undefined;
  /** the fetched download, kept open for the join: reopening would re-hash every chunk */
  private joinable: PartialDownload | undefined;

  constructor(
    private readonly deps: SessionDeps,
    init: { downloadId: string; target: string; maxRetries: number; startedAt?: number; seq?: number },
  ) {
    this.info = {
      downloadId: init.downloadId,
      target: init.target,
      state: 'lookup',
      status: 'running',
      verifiedChunks: 0,
      totalChunks: 0,
      bytes: 0,
      totalBytes: 0,
      rateBps: 0,
      sources: 0,
      attempts: 0,
      startedAt: init.startedAt ?? Date.now(),
    };
    this.maxRetries = init.maxRetries;
    this.seq = init.seq ?? 0;
    this.log = deps.logger.child({ downloadId: init.downloadId });
  }

  private readonly maxRetries: number;

  get id(): string {
    return this.info.downloadId;
  }

  get finished(): boolean {
    return this.info.status !== 'running';
  }

  /** Resolves when the machine reaches a final state. */
  whenFinished(): Promise<void> {
    if (this.finished) return Promise.resolve();
    return new Promise((resolve) => this.finishedWaiters.push(resolve));
  }

  start(): void {
    const { config } = this.deps;
    // O_NOFOLLOW: a symlink planted in traces/ is refused, never written through
    const traceFile = join(this.deps.tracesDir, `${this.id}.jsonl`);
    const fd = openSync(traceFile, fsConstants.O_WRONLY | fsConstants.O_APPEND | fsConstants.O_CREAT | fsConstants.O_NOFOLLOW, 0o644);
    this.trace = createWriteStream(traceFile, { fd });
    this.trace.on('error', (err) => this.log.warn('trace write failed', { err: err.message }));
    const machine = downloadMachine.provide({
      actors: {
        lookup: fromPromise<LookupResult, LookupInput>(({ input }) => this.deps.lookup(input.target)),
        fetchChunks: fromCallback<DownloadEvent, FetchInput>(({ sendBack, input }) => this.runFetch(input, sendBack)),
        join: fromPromise<JoinResult, JoinInput>(({ input }) => this.runJoin(input.file)),
      },
    });
    const actor = createActor(machine, {
      input: {
        downloadId: this.id,
        target: this.info.target,
        maxRetries: this.maxRetries,
        retryBaseMs: config.retryBaseMs,
        retryMaxMs: config.retryMaxMs,
      },
      inspect: (ev) => {
        if (ev.type !== '@xstate.snapshot' || ev.actorRef !== this.actor) return;
        this.onSnapshot(eventName(ev.event.type));
      },
    });
    this.actor = actor;
    this.log.info('download started', { target: this.info.target });
    actor.start();
  }

  cancel(): void {
    this.actor?.send({ type: 'cancel' });
  }

  /** Stop without finishing (peer shutdown): the intent stays persisted as running for resume. */
  async halt(): Promise<void> {
    this.halting = true;
    this.actor?.stop();
    await this.joinable?.close().catch(() => undefined);
    this.joinable = undefined;
    await new Promise<void>((resolve) => (this.trace ? this.trace.end(resolve) : resolve()));
  }

  private halting = false;

  private onSnapshot(eventType: string): void {
    const snap = this.actor!.getSnapshot();
    const ctx = snap.context;
    const to = typeof snap.value === 'string' ? snap.value : JSON.stringify(snap.value);
    const info = this.info;
    info.state = to;
    info.attempts = ctx.retries;
    info.verifiedChunks = ctx.verifiedChunks;
    info.totalChunks = ctx.totalChunks;
    info.bytes = ctx.bytes;
    info.rateBps = ctx.rateBps;
    info.sources = to === 'fetching' && ctx.sourcesActive > 0 ? ctx.sourcesActive : ctx.sources.length;
    if (ctx.file) {
      info.fileId = ctx.file.fileId;
      info.name = ctx.file.name;
      info.totalBytes = ctx.file.size;
      info.totalChunks = ctx.file.chunkCount;
    }
    if (ctx.path) info.path = ctx.path;
    if (ctx.error) info.error = ctx.error;
    const final = FINAL.has(to) && snap.status === 'done';
    if (final) {
      info.status = ctx.status;
      info.finishedAt = Date.now();
      info.rateBps = 0;
    }
    const changed = to !== this.prevState;
    const now = Date.now();
    const isProgress = eventType === 'fetch.progress';
    if (changed || !isProgress || now - this.lastProgressTrace >= 1000 || final) {
      if (isProgress) this.lastProgressTrace = now;
      this.writeTrace({
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
        attempts: info.attempts,
        detail: detailOf(ctx, to),
        final,
      });
    }
    this.prevState = to;
    if (changed || final || now - this.lastProgressPublish >= this.deps.config.progressMs) {
      this.lastProgressPublish = now;
      publish(this.deps.nc, this.deps.subjects.progressOf(this.deps.peerId, this.id), { v: PROTOCOL_VERSION, peerId: this.deps.peerId, ...info }, this.log);
    }
    if (changed || final) this.deps.onChange(this);
    if (final) {
      if (info.status === 'failed') this.log.warn('download failed', { error: info.error });
      else this.log.info('download finished', { status: info.status, path: info.path, bytes: info.totalBytes });
      this.trace?.end();
      void this.joinable?.close().catch(() => undefined);
      this.joinable = undefined;
      for (const w of this.finishedWaiters.splice(0)) w();
    }
  }

  private writeTrace(entry: TraceEntry): void {
    if (entry.detail === undefined) delete entry.detail;
    this.log.debug('transition', { from: entry.from, to: entry.to, event: entry.event });
    this.trace?.write(JSON.stringify(entry) + '\n');
    publish(this.deps.nc, this.deps.subjects.traceOf(this.deps.peerId, this.id), { v: PROTOCOL_VERSION, peerId: this.deps.peerId, ...entry }, this.log);
  }

  /** The fetch actor: manifest (cached on disk or from a source), then chunks from every source. */
  private runFetch(input: FetchInput, sendBack: (e: DownloadEvent) => void): () => void {
    const abort = new AbortController();
    const { config, logger } = this.deps;
    let release: (() => void) | undefined;
    let partial: PartialDownload | undefined;
    (async () => {
      const { file, sources } = input;
      release = await this.deps.acquireFile(file.fileId, this.id);
      abort.signal.throwIfAborted();
      const manifest =
        (await PartialDownload.loadManifest(this.deps.chunksDir, file.fileId)) ??
        (await fetchManifest(sources, file.fileId, { timeoutMs: config.chunkTimeoutMs, logger: this.log, signal: abort.signal, security: this.deps.security }));
      if (manifest.size !== file.size || manifest.hashes.length !== file.chunkCount) {
        throw new ManifestMismatchError('manifest does not match the announced size');
      }
      this.manifest = manifest;
      partial = await PartialDownload.open({ chunksDir: this.deps.chunksDir, fileId: file.fileId, manifest, name: file.name });
      if (partial.resumeCheck.claimed > 0) {
        this.log.info('resuming from verified chunks', { claimed: partial.resumeCheck.claimed, kept: partial.resumeCheck.kept, total: file.chunkCount });
      }
      // others may fetch our verified chunks while we download (partial seeding)
      const shared = this.deps.availability.share(partial);
      const fetch = startFetch({
        fileId: file.fileId,
        manifest,
        sources,
        partial,
        pipeline: config.pipeline,
        chunkTimeoutMs: config.chunkTimeoutMs,
        maxStrikes: config.maxStrikes,
        progressMs: config.progressMs,
        logger: this.log,
        signal: abort.signal,
        onProgress: (p) => sendBack({ type: 'fetch.progress', ...p }),
        onSourceEvent: (e) => {
          if (e.kind !== 'chunk') this.log.info(`source ${e.kind}`, { from: e.peerId, ...(e.detail ? { detail: e.detail } : {}) });
        },
        onVerified: (index) => shared.gained(index),
        throttle: this.deps.downloadCap,
        security: this.deps.security,
      });
      // peers holding or downloading this file join the fetch as they show up, with what they have
      const unwatch = this.deps.availability.watch(file.fileId, file.chunkCount, (source, change) => fetch.updateSource(source, change));
      let outcome: FetchOutcome;
      try {
        outcome = await fetch.done;
      } finally {
        unwatch();
        shared.close();
      }
      if (outcome.outcome === 'complete' && !abort.signal.aborted) {
        void this.joinable?.close().catch(() => undefined);
        this.joinable = partial;
        partial = undefined;
      } else {
        await partial.close();
        partial = undefined;
      }
      if (abort.signal.aborted) return;
      if (outcome.outcome === 'complete') sendBack({ type: 'fetch.complete' });
      else sendBack({ type: 'fetch.exhausted', reason: outcome.reason });
    })()
      .catch((err) => {
        if (abort.signal.aborted) return;
        const e = toP2PError(err);
        if (e.code === 'DISK_FULL' || e.code === 'IO_ERROR') sendBack({ type: 'fetch.failed', code: e.code, message: e.message });
        else sendBack({ type: 'fetch.exhausted', reason: e.message });
      })
      .finally(() => {
        void partial?.close().catch(() => undefined);
        release?.();
      });
    void logger;
    return () => abort.abort();
  }

  private async runJoin(file: FileMeta): Promise<JoinResult> {
    const manifest = this.manifest ?? (await PartialDownload.loadManifest(this.deps.chunksDir, file.fileId));
    if (!manifest) throw new ManifestMismatchError('manifest lost before join');
    const ready = this.joinable?.fileId === file.fileId && this.joinable.isComplete() ? this.joinable : undefined;
    this.joinable = undefined;
    const partial = ready ?? (await PartialDownload.open({ chunksDir: this.deps.chunksDir, fileId: file.fileId, manifest, name: file.name }));
    try {
      const path = await partial.join(this.deps.downloadsDir);
      await this.deps.onJoined(path, manifest, file);
      return { path };
    } finally {
      await partial.close().catch(() => undefined);
    }
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

function detailOf(ctx: { lastReason?: string; error?: { code: string; message: string }; path?: string }, to: string): string | undefined {
  if (to === 'retrying' && ctx.lastReason) return ctx.lastReason.slice(0, 1024);
  if ((to === 'failed' || to === 'cancelled') && ctx.error) return `${ctx.error.code}: ${ctx.error.message}`.slice(0, 1024);
  if (to === 'done' && ctx.path) return ctx.path.slice(0, 1024);
  return undefined;
}

export type { Source };
