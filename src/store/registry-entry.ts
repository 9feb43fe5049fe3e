// One file as the tracker's registry holds it: each source's own claims keyed by the source's peer
// record, so a lookup reaches a source's endpoint and lastSeen without a second map lookup; and
// the listed metadata, what most sources claim.
import type { Endpoint, FileMeta, SourceClaims } from '../protocol/messages.js';
import { eachSource, sourceCount, type SourceSlots } from './source-list.js';

/** One live peer as the tracker knows it. */
export interface PeerRecord {
  peerId: string;
  endpoint: Endpoint;
  /** clock time of the last announce or heartbeat */
  lastSeen: number;
  /**
   * fileIds this peer has announced, each once (the entry's own string). An array, not a Set: a
   * peer's files are added and dropped together, and whether it holds one is its entry's question.
   */
  files: string[];
  /** digest of the last announce applied, while nothing else changed this peer (see `repeated`) */
  announced?: string;
  /**
   * This peer's id and endpoint as a lookup reply writes them (src/tracker/lookup-reply.ts), one
   * char per byte, made on its first lookup; valid while `endpoint` is still `wireOf` (the registry
   * replaces the endpoint object only when the endpoint changes).
   */
  wire?: string;
  wireOf?: Endpoint;
}

/** The endpoint to keep: the one held while the new one says the same (cached encodings stay valid). */
export function sameOr(held: Endpoint, next: Endpoint): Endpoint {
  return held.host === next.host && held.port === next.port ? held : next;
}

/**
 * A file of the registry (a view for readers such as the lookup reply writer: do not mutate).
 * Its sources (source-list.ts): each source's own claims, by its peer record, in announce order.
 * A record leaves every entry when its peer is dropped, so every source is a live peer.
 */
export interface FileEntry extends SourceSlots<PeerRecord> {
  fileId: string;
  /**
   * What most sources claim (ties: the earliest claim), for listing; recomputed lazily. Never the
   * first announcer's word alone (issue 9, class 1): every source keeps its own claims.
   */
  meta: FileMeta | undefined;
  /** the first name this file was announced under; `more` has any other (a Set only when needed) */
  name: string;
  more?: Set<string>;
}

export function hasName(entry: FileEntry, name: string): boolean {
  return entry.name === name || (entry.more?.has(name) ?? false);
}

export function sameClaims(a: SourceClaims, b: SourceClaims): boolean {
  return a.size === b.size && a.chunkSize === b.chunkSize && a.chunkCount === b.chunkCount && a.name === b.name;
}

/** What most of the file's sources claim; among equally common claims, the earliest one. */
export function metaOf(entry: FileEntry): FileMeta {
  if (entry.meta) return entry.meta;
  const counts = new Map<string, { claims: SourceClaims; n: number }>();
  let best: { claims: SourceClaims; n: number } | undefined;
  eachSource(entry, (_peer, claims) => {
    const key = `${claims.size}/${claims.chunkSize}/${claims.chunkCount}/${claims.name}`;
    let c = counts.get(key);
    if (!c) counts.set(key, (c = { claims, n: 0 }));
    c.n++;
    if (!best || c.n > best.n) best = c;
  });
  // an entry without sources is removed at once, so `best` is set
  entry.meta = { fileId: entry.fileId, ...best!.claims };
  return entry.meta;
}

/** Most sources first, then by fileId: the order of a lookup by name. */
export function bySourcesThenId(a: FileEntry, b: FileEntry): number {
  return sourceCount(b) - sourceCount(a) || compare(a.fileId, b.fileId);
}

/** Plain code-unit order: stable across locales, unlike localeCompare. */
export function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
