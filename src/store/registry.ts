// The tracker's store: which peers are alive, where they listen, and which files each one has.
// An interface so a shared store (JetStream KV) can replace the in-memory one for many trackers.
import type { AnnounceRequest, Endpoint, FileMeta, ListEntry, LookupMatch, Source } from '../protocol/messages.js';
import { bySourcesThenId, compare, hasName, metaOf, sameClaims, sameOr, type FileEntry, type PeerRecord } from './registry-entry.js';
import { appendSource, claimsOf, eachSource, firstClaims, removeSourceOf, sourceCount } from './source-list.js';

export type { FileEntry, PeerRecord } from './registry-entry.js';

/** The tracker's view of the swarm. All methods are synchronous and never throw on input. */
export interface Registry {
  /**
   * Record an announce: `replace` first forgets every file the peer had that is not in `files`;
   * `files` are added; `removed` are dropped (a fileId in both counts as removed). Refreshes the
   * peer's endpoint and lastSeen. Returns true when the peer was not known before.
   */
  announce(req: AnnounceRequest, now: number, digest?: string): boolean;
  /**
   * The peer whose last applied announce had this digest (of its exact bytes), if nothing else
   * changed its files since: the same announce again would change nothing but lastSeen.
   */
  repeated(digest: string): PeerRecord | undefined;
  /** Refresh a known peer's lastSeen and endpoint. False if the peer is unknown. */
  heartbeat(peerId: string, endpoint: Endpoint, now: number): boolean;
  /** Forget a peer and remove it as a source everywhere. False if it was unknown. */
  drop(peerId: string): boolean;
  /** Drop every peer silent for longer than `ttlMs`; returns their ids. */
  expire(now: number, ttlMs: number): string[];
  /** The file with this id and all its sources, or undefined (views of the registry: do not mutate). */
  lookupById(fileId: string): LookupMatch | undefined;
  /** Every file announced under exactly this name, most sources first (then by fileId). */
  lookupByName(name: string): LookupMatch[];
  /** The entry of the file with this id (a view for the lookup reply writer: do not mutate). */
  fileById(fileId: string): FileEntry | undefined;
  /** The entries of every file announced under exactly this name, in lookupByName's order (views). */
  filesByName(name: string): FileEntry[];
  /** A page of all files, sorted by name then fileId, each with its source count. */
  list(offset: number, limit: number): { total: number; files: ListEntry[] };
  peerCount(): number;
  /** A page of the live peers, sorted by id. */
  listPeers(offset: number, limit: number): { total: number; peers: PeerRecord[] };
  /** The record of one peer (a copy-free view: do not mutate). */
  peer(peerId: string): PeerRecord | undefined;
}

/** In-memory Registry: indexes by fileId and by name, so announce/lookup cost O(files touched). */
export class MemoryRegistry implements Registry {
  private readonly peers = new Map<string, PeerRecord>();
  private readonly files = new Map<string, FileEntry>();
  /** fileIds by name: the one fileId itself while a name has one (most do: no Set per file) */
  private readonly byName = new Map<string, string | Set<string>>();
  /** announce digest → peer id (see `repeated`) */
  private readonly byDigest = new Map<string, string>();
  /** fileIds sorted for list(); rebuilt lazily after the file set changed */
  private sorted: string[] | undefined;

  announce(req: AnnounceRequest, now: number, digest?: string): boolean {
    let peer = this.peers.get(req.peerId);
    if (peer) this.forgetDigest(peer);
    const joined = peer === undefined;
    if (!peer) {
      peer = { peerId: req.peerId, endpoint: req.endpoint, lastSeen: now, files: [] };
      this.peers.set(req.peerId, peer);
    }
    peer.endpoint = sameOr(peer.endpoint, req.endpoint);
    peer.lastSeen = now;
    // the common re-announce (after a heartbeat said `known: false` to another tracker, a hello, a
    // periodic refresh): the same files again. Nothing to index then, only checks.
    if (digest !== undefined) this.byDigest.set(digest, req.peerId);
    peer.announced = digest;
    if (!joined && req.replace && req.removed.length === 0 && this.holdsExactly(peer, req.files)) return false;
    // a peer without files (every first announce) has nothing to forget: no Set of its new ids
    if (req.replace && peer.files.length > 0) this.forgetFiles(peer, new Set(req.files.map((f) => f.fileId)), true);
    for (const meta of req.files) this.addSource(peer, meta);
    if (req.removed.length > 0) this.forgetFiles(peer, new Set(req.removed), false);
    return joined;
  }

  repeated(digest: string): PeerRecord | undefined {
    const peerId = this.byDigest.get(digest);
    const peer = peerId === undefined ? undefined : this.peers.get(peerId);
    return peer?.announced === digest ? peer : undefined;
  }

  heartbeat(peerId: string, endpoint: Endpoint, now: number): boolean {
    const peer = this.peers.get(peerId);
    if (!peer) return false;
    // the last announce named another endpoint: repeating it would not be a no-op any more
    if (peer.announced !== undefined && (peer.endpoint.host !== endpoint.host || peer.endpoint.port !== endpoint.port)) this.forgetDigest(peer);
    peer.endpoint = sameOr(peer.endpoint, endpoint);
    peer.lastSeen = now;
    return true;
  }

  drop(peerId: string): boolean {
    const peer = this.peers.get(peerId);
    if (!peer) return false;
    for (const fileId of peer.files) this.unlink(peer, fileId);
    peer.files = [];
    this.forgetDigest(peer);
    this.peers.delete(peerId);
    return true;
  }

  expire(now: number, ttlMs: number): string[] {
    const expired: string[] = [];
    for (const peer of this.peers.values()) {
      if (now - peer.lastSeen > ttlMs) expired.push(peer.peerId);
    }
    for (const peerId of expired) this.drop(peerId);
    return expired;
  }

  lookupById(fileId: string): LookupMatch | undefined {
    const entry = this.files.get(fileId);
    return entry ? match(entry) : undefined;
  }

  lookupByName(name: string): LookupMatch[] {
    return this.filesByName(name).map(match);
  }

  fileById(fileId: string): FileEntry | undefined {
    return this.files.get(fileId);
  }

  filesByName(name: string): FileEntry[] {
    const ids = this.byName.get(name);
    if (ids === undefined) return [];
    if (typeof ids === 'string') {
      const entry = this.files.get(ids);
      return entry ? [entry] : [];
    }
    const entries: FileEntry[] = [];
    for (const fileId of ids) {
      const entry = this.files.get(fileId);
      if (entry) entries.push(entry);
    }
    return entries.sort(bySourcesThenId);
  }

  list(offset: number, limit: number): { total: number; files: ListEntry[] } {
    if (!this.sorted) {
      this.sorted = [...this.files.values()]
        .map((e) => metaOf(e))
        .sort((a, b) => compare(a.name, b.name) || compare(a.fileId, b.fileId))
        .map((m) => m.fileId);
    }
    const page = this.sorted.slice(Math.max(0, offset), Math.max(0, offset) + Math.max(0, limit));
    const files = page.map((fileId) => {
      const entry = this.files.get(fileId)!;
      return { ...metaOf(entry), sources: sourceCount(entry) };
    });
    return { total: this.sorted.length, files };
  }

  peerCount(): number {
    return this.peers.size;
  }

  listPeers(offset: number, limit: number): { total: number; peers: PeerRecord[] } {
    const ids = [...this.peers.keys()].sort(compare);
    const page = ids.slice(Math.max(0, offset), Math.max(0, offset) + Math.max(0, limit));
    return { total: ids.length, peers: page.map((id) => this.peers.get(id)!) };
  }

  peer(peerId: string): PeerRecord | undefined {
    return this.peers.get(peerId);
  }

  private forgetDigest(peer: PeerRecord): void {
    if (peer.announced !== undefined) this.byDigest.delete(peer.announced);
    peer.announced = undefined;
  }

  /** `peer` is a source of exactly these files, with these claims, already indexed under these names. */
  private holdsExactly(peer: PeerRecord, files: FileMeta[]): boolean {
    if (peer.files.length !== files.length) return false;
    // as many files as it holds, each held (a source of it), so exactly these (fileIds are unique
    // in peer.files; a repeated one in `files` would leave one of the peer's unmatched)
    const seen = new Set<string>();
    for (let i = 0; i < files.length; i++) {
      const meta = files[i]!;
      if (seen.has(meta.fileId)) return false;
      seen.add(meta.fileId);
      const entry = this.files.get(meta.fileId);
      if (!entry || !hasName(entry, meta.name)) return false;
      const claims = claimsOf(entry, peer);
      if (!claims || !sameClaims(claims, meta)) return false;
    }
    return true;
  }

  private addSource(peer: PeerRecord, meta: FileMeta): void {
    let entry = this.files.get(meta.fileId);
    if (!entry) {
      entry = { fileId: meta.fileId, meta: undefined, flat: [], name: meta.name };
      this.indexName(meta.name, meta.fileId);
      this.files.set(meta.fileId, entry);
    }
    // a source's new claims replace its old ones (and go last: the earliest claim wins ties); a
    // re-announce of the same claims (the common case) changes nothing, not even list()'s order
    const old = claimsOf(entry, peer);
    if (!old || !sameClaims(old, meta)) {
      // sources usually agree: share the first source's claims object rather than copy it
      const first = firstClaims(entry);
      const claims = first && sameClaims(first, meta) ? first : { name: meta.name, size: meta.size, chunkSize: meta.chunkSize, chunkCount: meta.chunkCount };
      if (old) removeSourceOf(entry, peer); // so that appendSource() puts it last
      appendSource(entry, peer, claims);
      // one more source agreeing with the listed claims leaves them listed
      if (old || !entry.meta || !sameClaims(entry.meta, meta)) {
        entry.meta = undefined;
        this.sorted = undefined;
      }
    }
    // the entry's own string: a million copies of the same 100 000 ids would each be a live object
    if (!old) peer.files.push(entry.fileId);
    if (!hasName(entry, meta.name)) {
      (entry.more ??= new Set()).add(meta.name);
      this.indexName(meta.name, meta.fileId);
    }
  }

  private indexName(name: string, fileId: string): void {
    const ids = this.byName.get(name);
    if (ids === undefined) this.byName.set(name, fileId);
    else if (typeof ids !== 'string') ids.add(fileId);
    else if (ids !== fileId) this.byName.set(name, new Set([ids, fileId]));
  }

  /**
   * Drop the peer's files that are (`keep` true) or are not (false) in `ids`: one pass over its
   * list, however many go.
   */
  private forgetFiles(peer: PeerRecord, ids: Set<string>, keep: boolean): void {
    const left: string[] = [];
    for (const fileId of peer.files) {
      if (ids.has(fileId) === keep) left.push(fileId);
      else this.unlink(peer, fileId);
    }
    peer.files = left;
  }

  /** The file's side of a peer leaving it as a source (the caller updates peer.files). */
  private unlink(peer: PeerRecord, fileId: string): void {
    const entry = this.files.get(fileId);
    if (!entry) return;
    if (!removeSourceOf(entry, peer)) return;
    entry.meta = undefined;
    this.sorted = undefined;
    if (sourceCount(entry) > 0) return;
    // last source gone: the file leaves every index
    this.files.delete(fileId);
    this.sorted = undefined;
    for (const name of [entry.name, ...(entry.more ?? [])]) {
      const ids = this.byName.get(name);
      if (ids === fileId) this.byName.delete(name);
      else if (typeof ids === 'object') {
        ids.delete(fileId);
        if (ids.size === 1) this.byName.set(name, ids.values().next().value!);
      }
    }
  }
}

/** A file and its sources as a LookupMatch (sharing the registry's endpoint and claims objects). */
function match(entry: FileEntry): LookupMatch {
  const sources: Source[] = [];
  eachSource(entry, (peer, claims) => void sources.push({ peerId: peer.peerId, endpoint: peer.endpoint, claims }));
  return { file: metaOf(entry), sources };
}
