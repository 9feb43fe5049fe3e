// The tracker's state in a JetStream KV bucket, shared by every tracker instance (and replicated
// by a NATS cluster). One key per peer, `peer.<id>` = { endpoint, lastSeen, files }, and one per
// key binding, `key.<id>` = the public key that first signed for that id. Every write is
// compare-and-set on the key's revision, so instances never undo each other: expiry deletes
// `peer.<id>` only at the revision it judged silent (a heartbeat in between wins), a binding is
// created once. Each instance keeps an in-memory view (a MemoryRegistry) fed by a watch of the
// bucket (kv-follow.ts: restarted when it ends or stalls); reads answer from it, and start()
// resolves once it holds everything already stored.
import { type KV, type KvEntry, type NatsConnection } from 'nats';
import type { Logger } from 'winston';
import { z } from 'zod';
import { PermissionDeniedError, TimeoutError } from '../errors.js';
import type { Signer } from '../identity.js';
import { decode, encode } from '../protocol/codec.js';
import { Endpoint, FileMeta, PROTOCOL_VERSION, type AnnounceRequest, type ListEntry, type LookupMatch } from '../protocol/messages.js';
import { MemoryRegistry, type PeerRecord } from '../store/registry.js';
import { patiently } from './kv-patience.js';
import { KvFollower } from './kv-follow.js';
import { RegistryReads, type TrackerStore } from './store.js';

/** What `peer.<id>` holds. Validated when read back: the bucket is a boundary too. */
const PeerValue = z.object({
  endpoint: Endpoint,
  lastSeen: z.number().int().min(0),
  files: z.array(FileMeta).max(100_000),
});
type PeerValue = z.infer<typeof PeerValue>;
const KeyValue = z.object({ key: z.string().regex(/^[A-Za-z0-9_-]{43}$/) });

export interface KvStoreOptions {
  /** bucket name (default: derived from the prefix) */
  bucket?: string;
  prefix: string;
  /** replicas of the bucket's stream (3 on a 3-node cluster) */
  replicas?: number;
  /** how long start() waits for the bucket and its first contents */
  timeoutMs?: number;
  /** how often the view's position is compared with the bucket's (ms, default 5000) */
  followCheckMs?: number;
}

/** `p2p` → `p2p-tracker`; dots (subject tokens) become underscores. */
export function bucketFor(prefix: string): string {
  return `${prefix.replace(/\./g, '_')}-tracker`;
}

const CAS_ATTEMPTS = 8;
const MAX_REPLAY_ENTRIES = 200_000;

/** A TrackerStore on JetStream KV. */
export class KvStore extends RegistryReads implements TrackerStore {
  readonly kind = 'kv' as const;
  /** the view: every live peer's stored value and its revision */
  private readonly peers = new Map<string, { rev: number; value: PeerValue }>();
  private readonly keys = new Map<string, string>();
  /** highest revision applied per KV key (watch events at or below it are stale) */
  private readonly applied = new Map<string, number>();
  /** last signature timestamp per peer id seen by this instance (replay guard) */
  private readonly lastTs = new Map<string, number>();
  private kv: KV | undefined;
  private follower: KvFollower | undefined;
  private stopped = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly log: Logger,
    private readonly options: KvStoreOptions,
  ) {
    super();
  }

  get bucket(): string {
    return this.options.bucket ?? bucketFor(this.options.prefix);
  }

  async start(): Promise<void> {
    const timeout = this.options.timeoutMs ?? 20_000;
    // a cluster that just started may still be electing its JetStream leader: wait, saying so.
    // Each try is short (5 s); the bucket's own operations then get the full timeout.
    const waiting = { log: this.log, stopped: () => this.stopped, what: `kv bucket ${this.bucket}` };
    const tryJs = this.nc.jetstream({ timeout: Math.min(timeout, 5000) });
    await patiently(() => tryJs.views.kv(this.bucket, { history: 1, replicas: this.options.replicas ?? 1 }), waiting);
    const js = this.nc.jetstream({ timeout });
    this.kv = await patiently(() => js.views.kv(this.bucket, { bindOnly: true }), waiting);
    // the watch's consumer is asked for with 5 s per try (a fresh cluster may not take it yet)
    const watchKv = await patiently(() => tryJs.views.kv(this.bucket, { bindOnly: true }), waiting);
    this.follower = new KvFollower(watchKv, this.log, (e) => this.onEntry(e), { timeoutMs: timeout, checkMs: this.options.followCheckMs, what: `kv bucket ${this.bucket} (watch)` });
    await this.follower.start();
    this.log.info('kv store loaded', { bucket: this.bucket, peers: this.peers.size, bindings: this.keys.size });
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.follower?.stop();
  }

  async announce(req: AnnounceRequest, now: number): Promise<boolean> {
    const key = `peer.${req.peerId}`;
    const joined = !this.peers.has(req.peerId);
    await this.cas(key, (current) => {
      const files = req.replace ? [] : (current?.files ?? []);
      const byId = new Map(files.map((f) => [f.fileId, f]));
      for (const f of req.files) byId.set(f.fileId, f);
      for (const id of req.removed) byId.delete(id);
      return { endpoint: req.endpoint, lastSeen: now, files: [...byId.values()] };
    });
    return joined;
  }

  async heartbeat(peerId: string, endpoint: { host: string; port: number }, now: number): Promise<boolean> {
    if (!this.peers.has(peerId)) {
      // announced through another instance a moment ago, and our watch has not shown it yet?
      const e = await this.bucketOrThrow().get(`peer.${peerId}`);
      if (!e || e.operation !== 'PUT') return false;
      this.onEntry(e);
    }
    let known = true;
    await this.cas(`peer.${peerId}`, (current) => {
      if (!current) {
        known = false;
        return undefined;
      }
      return { ...current, endpoint, lastSeen: now };
    });
    return known;
  }

  async drop(peerId: string): Promise<boolean> {
    const held = this.peers.get(peerId);
    if (!held) return false;
    return this.deleteAt(peerId, held.rev);
  }

  async expire(now: number, ttlMs: number): Promise<string[]> {
    const silent = [...this.peers].filter(([, p]) => now - p.value.lastSeen > ttlMs);
    const dropped: string[] = [];
    for (const [peerId, p] of silent) {
      // only at the revision judged silent: if another instance heard from it since, that wins
      if (await this.deleteAt(peerId, p.rev)) dropped.push(peerId);
    }
    return dropped;
  }

  async bind(peerId: string, signer: Signer): Promise<void> {
    let bound = this.keys.get(peerId);
    for (let attempt = 1; bound === undefined; attempt++) {
      const kv = this.bucketOrThrow();
      try {
        const rev = await kv.create(`key.${peerId}`, encode({ key: signer.key }));
        this.applyKey(`key.${peerId}`, rev, signer.key);
        bound = signer.key;
      } catch (err) {
        if (!isConflict(err)) throw err;
        // bound already (by another instance, or by us when an answer was lost): read it from the
        // stream's leader, not from a replica that may still be catching up after a partition
        const held = await this.leaderRead(`key.${peerId}`);
        if (held) {
          bound = decode(KeyValue, held.data, 'kv key binding').key;
          this.applyKey(`key.${peerId}`, held.seq, bound);
        } else if (attempt >= 3) {
          throw new TimeoutError(`peer id ${peerId}: its key binding cannot be read right now, retry`);
        }
      }
    }
    if (bound !== signer.key) throw new PermissionDeniedError(`peer id ${peerId} belongs to another identity`);
    const last = this.lastTs.get(peerId);
    if (last !== undefined && signer.ts <= last) throw new PermissionDeniedError(`replayed or out-of-order message for ${peerId}`);
    if (last === undefined && this.lastTs.size >= MAX_REPLAY_ENTRIES) this.lastTs.delete(this.lastTs.keys().next().value!);
    this.lastTs.set(peerId, signer.ts);
  }

  /** The newest value of `key`, read through the stream's leader (undefined: none, or deleted). */
  private async leaderRead(key: string): Promise<{ seq: number; data: Uint8Array } | undefined> {
    const jsm = await this.nc.jetstreamManager();
    try {
      const m = await jsm.streams.getMessage(`KV_${this.bucket}`, { last_by_subj: `$KV.${this.bucket}.${key}` });
      const op = m.header?.get('KV-Operation');
      return op === 'DEL' || op === 'PURGE' ? undefined : { seq: m.seq, data: m.data };
    } catch (err) {
      if (/no message found|not found|10037/i.test((err as Error).message)) return undefined;
      throw err;
    }
  }

  boundKey(peerId: string): string | undefined {
    return this.keys.get(peerId);
  }

  /**
   * Read-modify-write `key` at its revision: `next(current)` gives the new value (undefined:
   * write nothing). Starts from the view; on a conflict reads the key and tries again.
   */
  private async cas(key: string, next: (current: PeerValue | undefined) => PeerValue | undefined): Promise<void> {
    const kv = this.bucketOrThrow();
    const peerId = key.slice('peer.'.length);
    const held = this.peers.get(peerId);
    let rev = held?.rev ?? 0;
    let current = held?.value;
    for (let attempt = 1; ; attempt++) {
      const value = next(current);
      if (!value) return;
      const data = encode(value);
      try {
        const newRev = rev > 0 ? await kv.update(key, data, rev) : await kv.create(key, data);
        this.applyPeer(key, newRev, value);
        return;
      } catch (err) {
        if (!isConflict(err) || attempt >= CAS_ATTEMPTS) throw err;
      }
      const e = await kv.get(key);
      rev = e?.revision ?? 0;
      current = e && e.operation === 'PUT' ? decode(PeerValue, e.value, 'kv peer record') : undefined;
      // kv.create on a deleted key: nats.js turns it into an update at the delete marker's revision
      if (!current && e) rev = 0;
    }
  }

  /** Delete `peer.<id>` only if it is still at `rev`. True if this call deleted it. */
  private async deleteAt(peerId: string, rev: number): Promise<boolean> {
    const kv = this.bucketOrThrow();
    try {
      await kv.delete(`peer.${peerId}`, { previousSeq: rev });
    } catch (err) {
      if (isConflict(err)) return false;
      throw err;
    }
    this.applyPeer(`peer.${peerId}`, rev, undefined, true);
    return true;
  }

  private onEntry(e: KvEntry): void {
    try {
      if (e.key.startsWith('peer.')) {
        this.applyPeer(e.key, e.revision, e.operation === 'PUT' ? decode(PeerValue, e.value, 'kv peer record') : undefined);
      } else if (e.key.startsWith('key.')) {
        this.applyKey(e.key, e.revision, e.operation === 'PUT' ? decode(KeyValue, e.value, 'kv key binding').key : undefined);
      }
    } catch (err) {
      this.log.warn('kv entry dropped', { key: e.key, revision: e.revision, err: (err as Error).message });
    }
  }

  /** Bring the view of one peer to `value` at `rev` (undefined: gone). Stale revisions are ignored. */
  private applyPeer(key: string, rev: number, value: PeerValue | undefined, force = false): void {
    const seen = this.applied.get(key) ?? 0;
    if (rev <= seen && !force) return;
    this.applied.set(key, Math.max(rev, seen));
    const peerId = key.slice('peer.'.length);
    const before = this.peers.get(peerId);
    if (!value) {
      this.peers.delete(peerId);
      this.registry.drop(peerId);
      return;
    }
    this.peers.set(peerId, { rev, value });
    if (before && sameFiles(before.value.files, value.files) && this.registry.peer(peerId)) {
      this.registry.heartbeat(peerId, value.endpoint, value.lastSeen);
      return;
    }
    const req: AnnounceRequest = { v: PROTOCOL_VERSION, peerId, endpoint: value.endpoint, replace: true, files: value.files, removed: [] };
    this.registry.announce(req, value.lastSeen);
  }

  private applyKey(key: string, rev: number, bound: string | undefined): void {
    if (rev <= (this.applied.get(key) ?? 0)) return;
    this.applied.set(key, rev);
    const peerId = key.slice('key.'.length);
    if (bound === undefined) this.keys.delete(peerId);
    else this.keys.set(peerId, bound);
  }

  private bucketOrThrow(): KV {
    if (!this.kv) throw new Error('kv store not started');
    return this.kv;
  }
}

/** A compare-and-set that lost: the key is not at the expected revision (JetStream 10071). */
function isConflict(err: unknown): boolean {
  const e = err as { message?: string; api_error?: { err_code?: number } };
  return e.api_error?.err_code === 10071 || /wrong last sequence|key exists/i.test(e.message ?? '');
}

/** Same files in the same order (a heartbeat rewrote the record without touching them). */
function sameFiles(a: FileMeta[], b: FileMeta[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i]!.fileId !== b[i]!.fileId || a[i]!.name !== b[i]!.name) return false;
  return true;
}
