// The tracker's state in a JetStream KV bucket, shared by every tracker instance (and replicated
// by a NATS cluster). Per peer a small record, `peer.<id>` = { endpoint, lastSeen, filesRev },
// rewritten by each heartbeat, and its file list, `files.<id>`, rewritten only when an announce
// changes it (kv-view.ts); one key per key binding, `key.<id>` = the public key that first signed
// for that id. Every write is compare-and-set on the key's revision, so instances never undo
// each other: expiry deletes `peer.<id>` only at the revision it judged silent (a heartbeat in
// between wins), a binding is created once. Each instance keeps an in-memory view (kv-view.ts)
// fed by a watch of the bucket (kv-follow.ts: restarted when it ends or stalls); reads answer
// from it, and start() resolves once it holds everything already stored.
import { type KV, type NatsConnection } from 'nats';
import type { Logger } from 'winston';
import { PermissionDeniedError, TimeoutError } from '../errors.js';
import type { Signer } from '../identity.js';
import { decode, encode } from '../protocol/codec.js';
import type { AnnounceRequest, FileMeta } from '../protocol/messages.js';
import { patiently } from './kv-patience.js';
import { KvFollower } from './kv-follow.js';
import { FilesValue, KeyValue, KvView, PeerValue, sameClaimsList } from './kv-view.js';
import { RegistryReads, type TrackerStore } from './store.js';

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
  /** the bucket as this instance has seen it */
  private readonly view: KvView;
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
    this.view = new KvView(this.registry, log);
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
    this.follower = new KvFollower(watchKv, this.log, (e) => this.view.onEntry(e), { timeoutMs: timeout, checkMs: this.options.followCheckMs, what: `kv bucket ${this.bucket} (watch)` });
    await this.follower.start();
    this.log.info('kv store loaded', { bucket: this.bucket, peers: this.view.peers.size, bindings: this.view.keys.size });
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.follower?.stop();
  }

  async announce(req: AnnounceRequest, now: number): Promise<boolean> {
    const joined = !this.view.peers.has(req.peerId);
    // a record made anew comes with a list written anew: an expiry may be deleting the old one
    let fresh = joined;
    for (;;) {
      const filesRev = await this.writeList(req, fresh);
      let gone = false;
      await this.cas(req.peerId, (current) => {
        // the record went (expired, dropped) while we wrote: so may have its list; write it again
        if (!current && !fresh) {
          gone = true;
          return undefined;
        }
        return { endpoint: req.endpoint, lastSeen: now, filesRev };
      });
      if (!gone) return joined;
      fresh = true;
    }
  }

  async heartbeat(peerId: string, endpoint: { host: string; port: number }, now: number): Promise<boolean> {
    if (!this.view.peers.has(peerId)) {
      // announced through another instance a moment ago, and our watch has not shown it yet?
      const kv = this.bucketOrThrow();
      const [e, list] = await Promise.all([kv.get(`peer.${peerId}`), kv.get(`files.${peerId}`)]);
      if (!e || e.operation !== 'PUT') return false;
      if (list) this.view.onEntry(list);
      this.view.onEntry(e);
    }
    let known = true;
    // only the small record: a record from before the split keeps its files (rewritten with it)
    await this.cas(peerId, (current) => {
      if (!current) {
        known = false;
        return undefined;
      }
      return { ...current, endpoint, lastSeen: now };
    });
    return known;
  }

  /**
   * Store the file list `req` leaves the peer with, unless the bucket holds that list already
   * (a re-announce of the same files, the common case, writes nothing here) and `force` is not
   * set. Returns its revision.
   */
  private async writeList(req: AnnounceRequest, force: boolean): Promise<number> {
    const list = this.view.lists.get(req.peerId);
    // a delta applies to the stored list (or, from before the split, the record's own: not stored yet)
    const legacy = this.view.peers.get(req.peerId)?.value.files;
    const held = list ? { rev: list.rev, value: { files: list.files } } : legacy ? { rev: 0, value: { files: legacy } } : undefined;
    return this.readModifyWrite(
      `files.${req.peerId}`,
      held,
      (data) => decode(FilesValue, data, 'kv file list'),
      (current, rev) => {
        const files = nextFiles(req, current?.files);
        return !force && rev > 0 && current && sameClaimsList(current.files, files) ? undefined : { files };
      },
      (rev, value) => this.view.applyList(req.peerId, rev, value.files),
    );
  }

  async drop(peerId: string): Promise<boolean> {
    const held = this.view.peers.get(peerId);
    if (!held) return false;
    return this.deleteAt(peerId, held.rev, held.value.filesRev);
  }

  async expire(now: number, ttlMs: number): Promise<string[]> {
    const silent = [...this.view.peers].filter(([, p]) => now - p.value.lastSeen > ttlMs);
    const dropped: string[] = [];
    for (const [peerId, p] of silent) {
      // only at the revision judged silent: if another instance heard from it since, that wins
      if (await this.deleteAt(peerId, p.rev, p.value.filesRev)) dropped.push(peerId);
    }
    return dropped;
  }

  async bind(peerId: string, signer: Signer): Promise<void> {
    let bound = this.view.keys.get(peerId);
    for (let attempt = 1; bound === undefined; attempt++) {
      const kv = this.bucketOrThrow();
      try {
        const rev = await kv.create(`key.${peerId}`, encode({ key: signer.key }));
        this.view.applyKey(peerId, rev, signer.key);
        bound = signer.key;
      } catch (err) {
        if (!isConflict(err)) throw err;
        // bound already (by another instance, or by us when an answer was lost): read it from the
        // stream's leader, not from a replica that may still be catching up after a partition
        const held = await this.leaderRead(`key.${peerId}`);
        if (held) {
          bound = decode(KeyValue, held.data, 'kv key binding').key;
          this.view.applyKey(peerId, held.seq, bound);
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
    return this.view.keys.get(peerId);
  }

  /** Read-modify-write `peer.<id>` (see readModifyWrite), starting from the view. */
  private async cas(peerId: string, next: (current: PeerValue | undefined) => PeerValue | undefined): Promise<void> {
    await this.readModifyWrite(
      `peer.${peerId}`,
      this.view.peers.get(peerId),
      (data) => decode(PeerValue, data, 'kv peer record'),
      next,
      (rev, value) => this.view.applyPeer(peerId, rev, value),
    );
  }

  /**
   * Compare-and-set `key` from `held` (the view's value and revision): `next(current, rev)` gives
   * the new value (undefined: write nothing), `applied` takes what was written. On a conflict reads
   * the key and tries again. Returns the key's revision after (the one held when nothing was written).
   */
  private async readModifyWrite<T>(
    key: string,
    held: { rev: number; value: T } | undefined,
    read: (data: Uint8Array) => T,
    next: (current: T | undefined, rev: number) => T | undefined,
    applied: (rev: number, value: T) => void,
  ): Promise<number> {
    const kv = this.bucketOrThrow();
    let rev = held?.rev ?? 0;
    let current = held?.value;
    for (let attempt = 1; ; attempt++) {
      const value = next(current, rev);
      if (value === undefined) return rev;
      const data = encode(value);
      try {
        const newRev = rev > 0 ? await kv.update(key, data, rev) : await kv.create(key, data);
        applied(newRev, value);
        return newRev;
      } catch (err) {
        if (!isConflict(err) || attempt >= CAS_ATTEMPTS) throw err;
      }
      const e = await kv.get(key);
      current = e && e.operation === 'PUT' ? read(e.value) : undefined;
      // kv.create on a deleted key: nats.js turns it into an update at the delete marker's revision
      rev = current ? e!.revision : 0;
    }
  }

  /**
   * Delete `peer.<id>` only if it is still at `rev`, then its file list if it is still the one the
   * record named (a re-announce since has written a newer one: that stays). True if this call
   * deleted the record.
   */
  private async deleteAt(peerId: string, rev: number, filesRev: number | undefined): Promise<boolean> {
    const kv = this.bucketOrThrow();
    try {
      await kv.delete(`peer.${peerId}`, { previousSeq: rev });
    } catch (err) {
      if (isConflict(err)) return false;
      throw err;
    }
    this.view.applyPeer(peerId, rev, undefined, true);
    if (filesRev !== undefined) {
      try {
        await kv.delete(`files.${peerId}`, { previousSeq: filesRev });
        this.view.applyList(peerId, filesRev, undefined, true);
      } catch (err) {
        if (!isConflict(err)) this.log.warn('kv file list of a dropped peer not deleted', { peerId, err: (err as Error).message });
      }
    }
    return true;
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

/** The file list an announce leaves a peer with, from what it held (`replace` starts from none). */
function nextFiles(req: AnnounceRequest, current: FileMeta[] | undefined): FileMeta[] {
  const byId = new Map((req.replace ? [] : (current ?? [])).map((f) => [f.fileId, f]));
  for (const f of req.files) byId.set(f.fileId, f);
  for (const id of req.removed) byId.delete(id);
  return [...byId.values()];
}
