// The tracker actor: keeps the registry of peers and their files, answers announce, heartbeat,
// lookup and list over NATS, drops peers that say bye or fall silent, and says hello on start.
import { hash, randomBytes } from 'node:crypto';
import type { NatsConnection, Subscription } from 'nats';
import type { Logger } from 'winston';
import { publish, serve, listen, type MessageMeta } from '../src/transport/bus.js';
import { settledWithin } from '../src/transport/bus-close.js';
import { SIG_HEADERS, verifySignature } from '../src/identity.js';
import { subjects, type Subjects } from '../src/protocol/subjects.js';
import { KeyRequest, type KeyReply } from '../src/protocol/key-messages.js';
import type { Encoded } from '../src/protocol/codec.js';
import {
  AnnounceRequest,
  Bye,
  HeartbeatRequest,
  ListRequest,
  LookupRequest,
  PeersRequest,
  PROTOCOL_VERSION,
  type Ack,
  type HeartbeatReply,
  type ListEntry,
  type ListReply,
  type PeersReply,
  type TrackerHello,
} from '../src/protocol/messages.js';
import { MemoryStore, type TrackerStore } from '../src/tracker/store.js';
import { JoinLog } from '../src/tracker/join-log.js';
import { LookupReplyWriter, REPLY_BUDGET } from '../src/tracker/lookup-reply.js';
import type { FileEntry } from '../src/store/registry.js';

/** Injected dependencies. */
export interface TrackerComponents {
  nc: NatsConnection;
  logger: Logger;
  clock?: { now(): number };
  /** where peers and key bindings live (default: this process's memory) */
  store?: TrackerStore;
}

/** Plain options. */
export interface TrackerOptions {
  prefix: string;
  /** a peer silent for longer than this is dropped */
  ttlMs: number;
  /** how often silent peers are looked for */
  sweepMs: number;
  trackerId?: string;
  /** most sources returned per lookup match (the freshest ones) */
  maxSourcesPerMatch?: number;
  /**
   * Refuse announces, heartbeats and byes that are not signed (default true). Signed ones are
   * always checked: a peer id belongs to the key that first signed for it.
   */
  requireSignatures?: boolean;
}

const DEFAULT_MAX_SOURCES = 1000;
/** Expired peers are logged one by one up to this many per sweep, then as a count. */
const LOG_EACH_EXPIRED = 50;

/** The tracker actor. `new Tracker(components, options)`, then `start()`; `stop()` is idempotent. */
export class Tracker {
  readonly trackerId: string;
  private readonly nc: NatsConnection;
  private readonly log: Logger;
  private readonly clock: { now(): number };
  private readonly store: TrackerStore;
  private readonly subjects: Subjects;
  private readonly options: Required<TrackerOptions>;
  private subs: Subscription[] = [];
  private sweepTimer: NodeJS.Timeout | undefined;
  private started = false;
  private stopping: Promise<void> | undefined;
  private sweeping = false;
  private readonly joins: JoinLog;
  private readonly lookups: LookupReplyWriter;
  /** debug lines on the hot paths cost a winston pipeline pass each even when filtered out */
  private readonly debug: boolean;

  constructor(components: TrackerComponents, options: TrackerOptions) {
    this.trackerId = options.trackerId ?? `tracker-${randomBytes(4).toString('hex')}`;
    this.options = { maxSourcesPerMatch: DEFAULT_MAX_SOURCES, requireSignatures: true, ...options, trackerId: this.trackerId };
    this.nc = components.nc;
    this.clock = components.clock ?? { now: () => Date.now() };
    this.store = components.store ?? new MemoryStore();
    this.log = components.logger.child({ actor: 'tracker', trackerId: this.trackerId });
    this.subjects = subjects(options.prefix);
    this.debug = this.log.isDebugEnabled();
    this.joins = new JoinLog(this.log, this.clock);
    this.lookups = new LookupReplyWriter({ maxSourcesPerMatch: this.options.maxSourcesPerMatch });
  }

  /** Subscribe, say hello (so peers re-announce) and start sweeping silent peers. */
  async start(): Promise<void> {
    if (this.started) throw new Error('tracker already started');
    this.started = true;
    // a shared store loads what is already there first: lookups answer from it at once
    await this.store.start();
    const s = this.subjects;
    const queue = s.trackerQueue;
    this.subs = [
      serve(this.nc, s.announce, AnnounceRequest, (m, meta) => this.onAnnounce(m, meta), {
        queue,
        log: this.log,
        what: 'announce',
        shortcut: this.store.repeated ? (meta) => this.repeatedAnnounce(meta) : undefined,
      }),
      serve(this.nc, s.heartbeat, HeartbeatRequest, (m, meta) => this.onHeartbeat(m, meta), { queue, log: this.log, what: 'heartbeat' }),
      serve(this.nc, s.lookup, LookupRequest, (m) => this.onLookup(m), { queue, log: this.log, what: 'lookup' }),
      serve(this.nc, s.list, ListRequest, (m) => this.onList(m), { queue, log: this.log, what: 'list' }),
      serve(this.nc, s.peers, PeersRequest, (m) => this.onPeers(m), { queue, log: this.log, what: 'peers' }),
      serve(this.nc, s.key, KeyRequest, (m) => this.onKey(m), { queue, log: this.log, what: 'key binding' }),
      // no queue group: every tracker forgets a departing peer
      listen(this.nc, s.bye, Bye, (m, meta) => this.onBye(m, meta), { log: this.log, what: 'bye' }),
    ];
    // subscriptions must reach the server before peers react to the hello
    await this.nc.flush();
    this.sweepTimer = setInterval(() => void this.sweep(), this.options.sweepMs);
    this.sweepTimer.unref();
    const hello: TrackerHello = { v: PROTOCOL_VERSION, trackerId: this.trackerId, startedAt: this.clock.now() };
    publish(this.nc, s.hello, hello, this.log);
    this.log.info('tracker started', { prefix: this.options.prefix, store: this.store.kind, ttlMs: this.options.ttlMs, sweepMs: this.options.sweepMs });
  }

  /** Stop sweeping and drain every subscription. Safe to call more than once. Leaves `nc` open. */
  stop(): Promise<void> {
    this.stopping ??= this.shutdown();
    return this.stopping;
  }

  private async shutdown(): Promise<void> {
    clearInterval(this.sweepTimer);
    this.sweepTimer = undefined;
    this.joins.flush();
    const subs = this.subs;
    this.subs = [];
    if (!this.nc.isClosed()) {
      // bounded: with the broker gone a drain waits for an answer that never comes
      await settledWithin(Promise.allSettled(subs.map((sub) => sub.drain())));
    }
    await this.store.stop();
    if (this.started) this.log.info('tracker stopped');
  }

  /** The message must be signed by the key this peer id is bound to (bound on first use). */
  private async authorize(peerId: string, meta: MessageMeta): Promise<void> {
    if (!this.options.requireSignatures && !meta.headers?.has(SIG_HEADERS.sig)) return;
    // checked on the event loop, in arrival order (the thread-pool variant is not kept: see bench/README)
    await this.store.bind(peerId, verifySignature(meta.subject, meta.data, meta.headers, this.clock.now()));
  }

  private async onAnnounce(m: AnnounceRequest, meta: MessageMeta): Promise<Ack> {
    await this.authorize(m.peerId, meta);
    const joined = await this.store.announce(m, this.clock.now(), meta.digest);
    if (joined) this.joins.joined(m.peerId, m.endpoint);
    if (this.debug) this.log.debug('announce', { peerId: m.peerId, replace: m.replace, files: m.files.length, removed: m.removed.length });
    return { v: PROTOCOL_VERSION, ok: true };
  }

  /**
   * The same announce again, byte for byte (a hello or a `known: false` brings them), from a peer
   * nothing changed since: applying it would change nothing but lastSeen, so only its signature
   * is checked (the same bytes carry the same peer id). Anything else: undefined, the full path.
   */
  private async repeatedAnnounce(meta: MessageMeta): Promise<Ack | undefined> {
    // one-shot: no Hash object per announce
    meta.digest = hash('sha256', meta.data, 'base64');
    const peer = this.store.repeated?.(meta.digest);
    if (!peer) return undefined;
    await this.authorize(peer.peerId, meta);
    await this.store.heartbeat(peer.peerId, peer.endpoint, this.clock.now());
    if (this.debug) this.log.debug('announce repeated', { peerId: peer.peerId });
    return { v: PROTOCOL_VERSION, ok: true };
  }

  private async onHeartbeat(m: HeartbeatRequest, meta: MessageMeta): Promise<HeartbeatReply> {
    await this.authorize(m.peerId, meta);
    const known = await this.store.heartbeat(m.peerId, m.endpoint, this.clock.now());
    if (this.debug) this.log.debug('heartbeat', { peerId: m.peerId, known });
    return { v: PROTOCOL_VERSION, ok: true, known };
  }

  /**
   * A LookupReply, written as msgpack straight from the registry's entries and trimmed to fit
   * (src/tracker/lookup-reply.ts): the same bytes as encoding the reply object, less CPU.
   */
  private onLookup(m: LookupRequest): Encoded {
    let files: FileEntry[];
    if (m.fileId !== undefined) {
      const file = this.store.fileById(m.fileId);
      files = file ? [file] : [];
    } else {
      files = this.store.filesByName(m.name!);
    }
    const written = this.lookups.write(files);
    if (this.debug) this.log.debug('lookup', { fileId: m.fileId, name: m.name, matches: written.matches, sources: written.sources });
    return written.reply;
  }

  private onList(m: ListRequest): ListReply {
    const page = this.store.list(m.offset, m.limit);
    const files = fitEntries(page.files);
    this.log.debug('list', { offset: m.offset, limit: m.limit, total: page.total, returned: files.length });
    return { v: PROTOCOL_VERSION, ok: true, total: page.total, files, peers: this.store.peerCount() };
  }

  /** A page of peers; at most 1000 per reply (each well under 200 bytes), callers page on. */
  private onPeers(m: PeersRequest): PeersReply {
    const page = this.store.listPeers(m.offset, m.limit);
    const peers = page.peers.map((p) => ({ peerId: p.peerId, endpoint: { ...p.endpoint }, files: p.files.length, lastSeen: p.lastSeen }));
    return { v: PROTOCOL_VERSION, ok: true, total: page.total, peers };
  }

  /** Whose key is this id? Peers check it before they start and before they trust a claim. */
  private onKey(m: KeyRequest): KeyReply {
    const key = this.store.boundKey(m.peerId);
    return { v: PROTOCOL_VERSION, ok: true, peerId: m.peerId, ...(key ? { key } : {}), live: this.store.peer(m.peerId) !== undefined };
  }

  private async onBye(m: Bye, meta: MessageMeta): Promise<void> {
    try {
      await this.authorize(m.peerId, meta);
    } catch (err) {
      this.log.warn('bye refused', { peerId: m.peerId, err: (err as Error).message });
      return;
    }
    if (await this.store.drop(m.peerId)) this.log.info('peer left', { peerId: m.peerId });
    else this.log.debug('bye from unknown peer', { peerId: m.peerId });
  }

  private async sweep(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    let expired: string[];
    try {
      expired = await this.store.expire(this.clock.now(), this.options.ttlMs);
    } catch (err) {
      this.log.error('sweep failed', { err: (err as Error).message, stack: (err as Error).stack });
      return;
    } finally {
      this.sweeping = false;
    }
    if (expired.length === 0) return;
    if (expired.length <= LOG_EACH_EXPIRED) {
      for (const peerId of expired) this.log.info('peer expired', { peerId, ttlMs: this.options.ttlMs });
    } else {
      this.log.info('peers expired', { count: expired.length, ttlMs: this.options.ttlMs });
    }
  }
}

/** Keep a list page under the message limit; callers page on with offset + files.length. */
function fitEntries(entries: ListEntry[]): ListEntry[] {
  let budget = REPLY_BUDGET;
  let n = 0;
  for (const entry of entries) {
    const cost = metaBytes(entry.name) + 16;
    if (cost > budget) break;
    budget -= cost;
    n++;
  }
  return n === entries.length ? entries : entries.slice(0, n);
}

/** An upper bound of the msgpack size of a FileMeta (keys, 64-hex id, numbers). */
function metaBytes(name: string): number {
  return 160 + Buffer.byteLength(name);
}
