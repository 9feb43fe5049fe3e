// Where the tracker keeps the swarm: one interface, two implementations. `memory` (the default,
// one tracker on one broker) keeps everything in this process; `kv` (kv-store.ts) keeps it in a
// JetStream KV bucket shared by any number of tracker instances, each answering reads from an
// in-memory view the bucket's watch keeps current. Writes are async, reads are synchronous.
import type { Logger } from 'winston';
import { IdentityBindings, type Signer } from '../identity.js';
import type { AnnounceRequest, Endpoint, ListEntry, LookupMatch } from '../protocol/messages.js';
import { MemoryRegistry, type FileEntry, type PeerRecord } from '../store/registry.js';
import { BindingsFile } from './bindings-file.js';

export type StoreKind = 'memory' | 'kv';

/** The tracker's state: peers, their files, and which key owns which peer id. */
export interface TrackerStore {
  readonly kind: StoreKind;
  /** Load what is already stored (kv: before start resolves, lookups answer from it). */
  start(): Promise<void>;
  /** Stop watching; the stored state stays. Idempotent. */
  stop(): Promise<void>;
  /**
   * Record an announce (see Registry.announce). True when the peer was not known before. `digest`
   * (of its exact bytes) lets a store that has `repeated` recognise the same announce again.
   */
  announce(req: AnnounceRequest, now: number, digest?: string): Promise<boolean>;
  /**
   * Stores that can tell (memory): the peer whose last announce had exactly these bytes, when
   * nothing changed it since, so the same announce again only needs its signature checked.
   */
  repeated?(digest: string): PeerRecord | undefined;
  /** Refresh a known peer's endpoint and lastSeen. False if the peer is unknown. */
  heartbeat(peerId: string, endpoint: Endpoint, now: number): Promise<boolean>;
  /** Forget a peer. False if it was unknown. */
  drop(peerId: string): Promise<boolean>;
  /**
   * Drop every peer silent for longer than `ttlMs` and return the ids this call dropped. Safe to
   * run on several instances at once: a peer is dropped once, and never after someone heard from it.
   */
  expire(now: number, ttlMs: number): Promise<string[]>;
  /**
   * Trust on first use: bind `peerId` to `signer.key`, or check it is the bound key and the
   * message is newer than the last one seen. Throws PermissionDeniedError.
   */
  bind(peerId: string, signer: Signer): Promise<void>;
  /** The key bound to `peerId` (whoever signed for it first), if any. */
  boundKey(peerId: string): string | undefined;
  lookupById(fileId: string): LookupMatch | undefined;
  lookupByName(name: string): LookupMatch[];
  /** The registry's entry of a file, read in place by the lookup reply writer (do not mutate). */
  fileById(fileId: string): FileEntry | undefined;
  /** The entries of the files under this name, most sources first (views: do not mutate). */
  filesByName(name: string): FileEntry[];
  list(offset: number, limit: number): { total: number; files: ListEntry[] };
  peerCount(): number;
  /** A page of the live peers, sorted by id. */
  listPeers(offset: number, limit: number): { total: number; peers: PeerRecord[] };
  peer(peerId: string): PeerRecord | undefined;
}

/**
 * The reads every store answers from memory: its in-process registry (the memory store's only
 * copy; the KV store's view fed by its watch).
 */
export abstract class RegistryReads {
  protected readonly registry = new MemoryRegistry();

  lookupById(fileId: string): LookupMatch | undefined {
    return this.registry.lookupById(fileId);
  }
  lookupByName(name: string): LookupMatch[] {
    return this.registry.lookupByName(name);
  }
  fileById(fileId: string): FileEntry | undefined {
    return this.registry.fileById(fileId);
  }
  filesByName(name: string): FileEntry[] {
    return this.registry.filesByName(name);
  }
  list(offset: number, limit: number): { total: number; files: ListEntry[] } {
    return this.registry.list(offset, limit);
  }
  peerCount(): number {
    return this.registry.peerCount();
  }
  listPeers(offset: number, limit: number): { total: number; peers: PeerRecord[] } {
    return this.registry.listPeers(offset, limit);
  }
  peer(peerId: string): PeerRecord | undefined {
    return this.registry.peer(peerId);
  }
}

/**
 * The swarm in this process: gone when it stops. The key bindings too, unless `dataDir` is
 * given: then they are saved to DATA/bindings.json and loaded back on start.
 */
export class MemoryStore extends RegistryReads implements TrackerStore {
  readonly kind = 'memory' as const;
  private readonly bindings = new IdentityBindings();
  private readonly file: BindingsFile | undefined;
  private readonly logger: Logger | undefined;

  constructor(opts: { dataDir?: string; logger?: Logger; flushMs?: number } = {}) {
    super();
    this.logger = opts.logger;
    this.file = opts.dataDir ? new BindingsFile(opts.dataDir, this.bindings, opts.logger, opts.flushMs) : undefined;
  }

  async start(): Promise<void> {
    const n = await this.file?.load();
    if (this.file) this.logger?.info('key bindings loaded', { file: this.file.path, bindings: n });
  }
  async stop(): Promise<void> {
    await this.file?.flush(true);
  }

  async announce(req: AnnounceRequest, now: number, digest?: string): Promise<boolean> {
    return this.registry.announce(req, now, digest);
  }
  repeated(digest: string): PeerRecord | undefined {
    return this.registry.repeated(digest);
  }
  async heartbeat(peerId: string, endpoint: Endpoint, now: number): Promise<boolean> {
    return this.registry.heartbeat(peerId, endpoint, now);
  }
  async drop(peerId: string): Promise<boolean> {
    return this.registry.drop(peerId);
  }
  async expire(now: number, ttlMs: number): Promise<string[]> {
    return this.registry.expire(now, ttlMs);
  }
  async bind(peerId: string, signer: Signer): Promise<void> {
    if (this.bindings.check(peerId, signer)) this.file?.changed();
  }
  boundKey(peerId: string): string | undefined {
    return this.bindings.keyOf(peerId);
  }
}
