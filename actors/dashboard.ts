// The dashboard actor: watches the swarm over NATS like any other actor (tracker list and
// lookups, heartbeats and byes, every peer's status, progress and trace subjects, every file's
// availability) into a SwarmModel, and sends intents and cancels on the page's behalf. Every
// message is validated on the way in; the HTTP side lives in src/dashboard/server.ts.
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { NatsConnection, Subscription } from 'nats';
import type { Logger } from 'winston';
import {
  Ack,
  AvailabilityQuery,
  Bye,
  ChunkAvailability,
  HeartbeatRequest,
  IntentReply,
  ListReply,
  LookupReply,
  PROTOCOL_VERSION,
  ProgressEvent,
  TraceEvent,
  TraceReply,
  type TraceEntry,
} from '../src/protocol/messages.js';
import { subjects as makeSubjects, type Subjects } from '../src/protocol/subjects.js';
import { listen, publish, request } from '../src/transport/bus.js';
import { peerStatus } from '../src/transport/peer-status.js';
import { UnknownPeerError } from '../src/errors.js';
import { SwarmModel } from '../src/dashboard/model.js';

export interface DashboardComponents {
  nc: NatsConnection;
  logger: Logger;
  now?: () => number;
}

export interface DashboardOptions {
  prefix: string;
  /** tracker list + lookups every this often */
  listMs?: number;
  /** each peer's status every this often (one rate sample each) */
  statusMs?: number;
  /** ask every file's holders again this often */
  availMs?: number;
  /** a peer that has not answered for this long is forgotten */
  forgetMs?: number;
  /** files looked up per list round (the rest wait their turn) */
  maxLookups?: number;
}

/** Emits `change` when the model moved and `trace` (peerId, entry) for each live transition. */
export class Dashboard extends EventEmitter {
  readonly model: SwarmModel;
  readonly subjects: Subjects;
  private readonly log: Logger;
  private readonly id = `dashboard-${randomBytes(4).toString('hex')}`;
  private readonly subs: Subscription[] = [];
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly opts: Required<DashboardOptions>;
  private lookupCursor = 0;
  private stopped = false;
  private busy = new Set<string>();

  constructor(
    private readonly components: DashboardComponents,
    options: DashboardOptions,
  ) {
    super();
    this.opts = { listMs: 2000, statusMs: 1000, availMs: 10_000, forgetMs: 30_000, maxLookups: 100, ...options };
    this.subjects = makeSubjects(options.prefix);
    this.model = new SwarmModel(components.now);
    this.log = components.logger.child({ actor: 'dashboard' });
  }

  async start(): Promise<void> {
    const { nc } = this.components;
    const s = this.subjects;
    const opts = (what: string) => ({ log: this.log, what });
    this.subs.push(
      listen(nc, s.allProgress, ProgressEvent, ({ v: _v, peerId, ...info }, meta) => {
        if (meta.subject !== s.progressOf(peerId, info.downloadId)) return;
        this.model.onProgress(peerId, info);
        this.emit('change');
      }, opts('progress')),
      listen(nc, s.allTraces, TraceEvent, ({ v: _v, peerId, ...entry }, meta) => {
        if (meta.subject !== s.traceOf(peerId, entry.downloadId)) return;
        if (this.model.onTrace(peerId, entry)) this.emit('trace', peerId, entry);
      }, opts('trace')),
      listen(nc, s.allAvail, ChunkAvailability, (m, meta) => {
        if (meta.subject !== s.avail(m.fileId)) return;
        this.model.onAvailability(m);
        this.emit('change');
      }, opts('chunk availability')),
      listen(nc, s.heartbeat, HeartbeatRequest, (m) => this.model.seePeer(m.peerId, m.endpoint, false), opts('heartbeat')),
      listen(nc, s.bye, Bye, (m) => {
        this.model.dropPeer(m.peerId);
        this.emit('change');
      }, opts('bye')),
    );
    await nc.flush();
    await this.refreshFiles();
    await this.pollPeers();
    this.timers.push(setInterval(() => void this.single('files', () => this.refreshFiles()), this.opts.listMs));
    this.timers.push(setInterval(() => void this.single('peers', () => this.pollPeers()), this.opts.statusMs));
    this.timers.push(setInterval(() => this.queryAvailability(this.model.fileIds()), this.opts.availMs));
    this.log.info('dashboard watching the swarm', { prefix: this.opts.prefix });
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    for (const sub of this.subs) sub.unsubscribe();
  }

  /** Ask `peerId` to download `target` (a name or fileId), as `p2p get` does. */
  async intent(peerId: string, target: string): Promise<{ downloadId: string; attached: boolean }> {
    const downloadId = `dl-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
    const reply = await request(this.components.nc, this.subjects.intent(peerId), { v: PROTOCOL_VERSION, target, downloadId }, IntentReply, this.askOpts(peerId));
    this.log.info('intent sent', { peerId, downloadId: reply.downloadId });
    void this.pollPeer(peerId);
    return { downloadId: reply.downloadId, attached: reply.attached };
  }

  async cancel(peerId: string, downloadId: string): Promise<void> {
    await request(this.components.nc, this.subjects.cancel(peerId), { v: PROTOCOL_VERSION, downloadId }, Ack, this.askOpts(peerId));
    this.log.info('cancel sent', { peerId, downloadId });
    void this.pollPeer(peerId);
  }

  /** A download's whole trace: the peer's record (from its .p2p/traces) merged with what we saw live. */
  async trace(peerId: string, downloadId: string): Promise<{ entries: TraceEntry[]; truncated: number; finished: boolean }> {
    const reply = await request(this.components.nc, this.subjects.trace(peerId), { v: PROTOCOL_VERSION, downloadId }, TraceReply, this.askOpts(peerId));
    for (const e of reply.entries) this.model.onTrace(peerId, e);
    const entries = this.model.trace(peerId, downloadId);
    return { entries, truncated: reply.truncated, finished: reply.finished || entries.some((e) => e.final) };
  }

  private askOpts(peerId: string) {
    return {
      timeoutMs: 5000,
      who: `peer ${peerId}`,
      noResponders: () => new UnknownPeerError(`no running peer with id "${peerId}" answers on this NATS server`),
    };
  }

  /** Run `job` unless the previous run of the same kind is still going (a slow broker never piles up). */
  private async single(kind: string, job: () => Promise<void>): Promise<void> {
    if (this.busy.has(kind) || this.stopped) return;
    this.busy.add(kind);
    try {
      await job();
    } catch (err) {
      this.log.debug('refresh failed', { kind, err: (err as Error).message });
    } finally {
      this.busy.delete(kind);
    }
  }

  private async refreshFiles(): Promise<void> {
    const { nc } = this.components;
    const all: ListReply['files'] = [];
    try {
      for (let offset = 0; ; ) {
        const page = await request(nc, this.subjects.list, { v: PROTOCOL_VERSION, offset, limit: 1000 }, ListReply, { timeoutMs: 3000, who: 'the tracker' });
        all.push(...page.files);
        offset += page.files.length;
        if (page.files.length === 0 || offset >= page.total || offset >= 10_000) break;
      }
    } catch (err) {
      this.log.debug('tracker list failed', { err: (err as Error).message });
      return;
    }
    const added = this.model.setFiles(all);
    if (added.length) this.queryAvailability(added);
    // look files up in turns, a bounded number per round, to learn their sources
    const ids = this.model.fileIds();
    const batch = ids.length <= this.opts.maxLookups ? ids : ids.slice(this.lookupCursor, this.lookupCursor + this.opts.maxLookups);
    this.lookupCursor = ids.length <= this.opts.maxLookups ? 0 : (this.lookupCursor + this.opts.maxLookups) % ids.length;
    await Promise.all(
      batch.map(async (fileId) => {
        try {
          const r = await request(nc, this.subjects.lookup, { v: PROTOCOL_VERSION, fileId }, LookupReply, { timeoutMs: 3000, who: 'the tracker' });
          this.model.setSources(fileId, r.matches.find((m) => m.file.fileId === fileId)?.sources ?? []);
        } catch (err) {
          this.log.debug('lookup failed', { fileId, err: (err as Error).message });
        }
      }),
    );
    this.emit('change');
  }

  private async pollPeers(): Promise<void> {
    await Promise.all(this.model.peerIds().map((id) => this.pollPeer(id)));
    this.emit('change');
  }

  private async pollPeer(peerId: string): Promise<void> {
    try {
      // every page: a peer sharing thousands of files sends its downloads on the later ones
      const reply = await peerStatus(this.components.nc, this.subjects, peerId, { timeoutMs: 2000 });
      if (reply.peerId !== peerId) return;
      this.model.onStatus(reply);
    } catch {
      this.model.peerSilent(peerId, this.opts.forgetMs);
    }
  }

  private queryAvailability(fileIds: string[]): void {
    for (const fileId of fileIds) {
      publish(this.components.nc, this.subjects.availQuery(fileId), { v: PROTOCOL_VERSION, peerId: this.id, fileId } satisfies AvailabilityQuery, this.log);
    }
  }
}
