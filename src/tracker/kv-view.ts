// A KV tracker instance's view of its bucket, fed by the watch (and by its own writes): every live
// peer's record, every peer's file list, every key binding, and the MemoryRegistry that answers
// lookups from them. The bucket is a boundary: values are validated when read back.
//
// Keys: `peer.<id>` = { endpoint, lastSeen, filesRev } — small, rewritten by every heartbeat;
// `files.<id>` = { files } — the peer's file list, rewritten only when an announce changes it;
// `filesRev` is the revision of the list the record stands for. A list is written before the
// record that names it, so a watch (stream order) brings the list first. Records written before
// the split carry `files` themselves (no `filesRev`): still read, and kept so until the peer
// announces again.
import type { KvEntry } from 'nats';
import type { Logger } from 'winston';
import { z } from 'zod';
import { decode } from '../protocol/codec.js';
import { Endpoint, FileMeta, PROTOCOL_VERSION, type AnnounceRequest } from '../protocol/messages.js';
import { sameClaims } from '../store/registry-entry.js';
import type { MemoryRegistry } from '../store/registry.js';

/** What `peer.<id>` holds. */
export const PeerValue = z.object({
  endpoint: Endpoint,
  lastSeen: z.number().int().min(0),
  /** revision of `files.<id>` this record stands for */
  filesRev: z.number().int().positive().optional(),
  /** the file list itself: records written before `files.<id>` existed */
  files: z.array(FileMeta).max(100_000).optional(),
});
export type PeerValue = z.infer<typeof PeerValue>;
/** What `files.<id>` holds. */
export const FilesValue = z.object({ files: z.array(FileMeta).max(100_000) });
export const KeyValue = z.object({ key: z.string().regex(/^[A-Za-z0-9_-]{43}$/) });

export class KvView {
  /** every live peer's stored record and its revision */
  readonly peers = new Map<string, { rev: number; value: PeerValue }>();
  /** every peer's stored file list and its revision (kept after the peer left, until deleted) */
  readonly lists = new Map<string, { rev: number; files: FileMeta[] }>();
  readonly keys = new Map<string, string>();
  /** highest revision applied per KV key (watch events at or below it are stale) */
  private readonly applied = new Map<string, number>();

  constructor(
    private readonly registry: MemoryRegistry,
    private readonly log: Logger,
  ) {}

  onEntry(e: KvEntry): void {
    try {
      const put = e.operation === 'PUT';
      if (e.key.startsWith('peer.')) this.applyPeer(e.key.slice(5), e.revision, put ? decode(PeerValue, e.value, 'kv peer record') : undefined);
      else if (e.key.startsWith('files.')) this.applyList(e.key.slice(6), e.revision, put ? decode(FilesValue, e.value, 'kv file list').files : undefined);
      else if (e.key.startsWith('key.')) this.applyKey(e.key.slice(4), e.revision, put ? decode(KeyValue, e.value, 'kv key binding').key : undefined);
    } catch (err) {
      this.log.warn('kv entry dropped', { key: e.key, revision: e.revision, err: (err as Error).message });
    }
  }

  /** Bring the view of one peer to `value` at `rev` (undefined: gone). Stale revisions are ignored. */
  applyPeer(peerId: string, rev: number, value: PeerValue | undefined, force = false): void {
    if (!this.fresh(`peer.${peerId}`, rev, force)) return;
    const before = this.peers.get(peerId);
    if (!value) {
      this.peers.delete(peerId);
      this.registry.drop(peerId);
      return;
    }
    this.peers.set(peerId, { rev, value });
    const known = before !== undefined && this.registry.peer(peerId) !== undefined;
    // a heartbeat: the same list as before, only the endpoint and the time move
    if (known && (value.filesRev !== undefined ? value.filesRev === before.value.filesRev : value.files !== undefined && before.value.files !== undefined && sameFiles(before.value.files, value.files))) {
      this.registry.heartbeat(peerId, value.endpoint, value.lastSeen);
      return;
    }
    const files = value.files ?? this.listFor(peerId, value.filesRev!, known);
    if (files === undefined) {
      this.registry.heartbeat(peerId, value.endpoint, value.lastSeen);
      return;
    }
    this.list(peerId, value, files);
  }

  applyList(peerId: string, rev: number, files: FileMeta[] | undefined, force = false): void {
    if (!this.fresh(`files.${peerId}`, rev, force)) return;
    if (!files) {
      this.lists.delete(peerId);
      return;
    }
    this.lists.set(peerId, { rev, files });
    // the list arrives after a record that names it (the record was read first, from a replica
    // ahead of this view's watch): the registry took what it could then, so give it the list now
    const record = this.peers.get(peerId);
    if (record?.value.filesRev === rev && this.registry.peer(peerId)) this.list(peerId, record.value, files);
  }

  /** The registry holds `peerId` with exactly `files`, at the record's endpoint and time. */
  private list(peerId: string, record: PeerValue, files: FileMeta[]): void {
    const req: AnnounceRequest = { v: PROTOCOL_VERSION, peerId, endpoint: record.endpoint, replace: true, files, removed: [] };
    this.registry.announce(req, record.lastSeen);
  }

  applyKey(peerId: string, rev: number, bound: string | undefined): void {
    if (!this.fresh(`key.${peerId}`, rev, false)) return;
    if (bound === undefined) this.keys.delete(peerId);
    else this.keys.set(peerId, bound);
  }

  /**
   * The files a record naming list revision `rev` stands for. A newer list than the record names
   * is an announce whose record is on its way: a known peer keeps what it has until then (undefined),
   * a peer new to this view takes the newer list.
   */
  private listFor(peerId: string, rev: number, known: boolean): FileMeta[] | undefined {
    const list = this.lists.get(peerId);
    if (list && list.rev === rev) return list.files;
    if (known) return undefined;
    if (!list) this.log.warn('kv peer record names a file list that is not in the bucket', { peerId, filesRev: rev });
    return list?.files ?? [];
  }

  private fresh(key: string, rev: number, force: boolean): boolean {
    const seen = this.applied.get(key) ?? 0;
    if (rev <= seen && !force) return false;
    this.applied.set(key, Math.max(rev, seen));
    return true;
  }
}

/** Same files in the same order, by id and name (what the registry indexes). */
export function sameFiles(a: FileMeta[], b: FileMeta[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i]!.fileId !== b[i]!.fileId || a[i]!.name !== b[i]!.name) return false;
  return true;
}

/** Same files with the same claims: an announce of these would store nothing new. */
export function sameClaimsList(a: FileMeta[], b: FileMeta[]): boolean {
  return a.length === b.length && a.every((x, i) => x.fileId === b[i]!.fileId && sameClaims(x, b[i]!));
}
