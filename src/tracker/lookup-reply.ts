// The tracker's lookup reply, written as msgpack straight from the registry's entries: no
// LookupReply object is built, trimmed and handed to msgpackr. The bytes are exactly what
// encode() gives for the LookupReply the tracker used to build (test/unit/lookup-reply.test.ts
// checks it), so readers cannot tell; what it saves is the objects and msgpackr's generic walk,
// about a third of the reply's CPU (bench/micro/lookup-cpu.ts; the rest is reading the registry).
import { Encoded, MAX_MESSAGE_BYTES } from '../protocol/codec.js';
import { PROTOCOL_VERSION, type Endpoint, type SourceClaims } from '../protocol/messages.js';
import { MsgpackWriter, strBytes } from '../protocol/msgpack-write.js';
import { metaOf, type FileEntry, type PeerRecord } from '../store/registry-entry.js';
import { eachSource, sourceCount, sourcePairs } from '../store/source-list.js';

/** Most matches a lookup reply carries (LookupReply's schema limit). */
export const MAX_MATCHES = 1000;
/** Reply bytes we allow ourselves, leaving headroom under MAX_MESSAGE_BYTES for msgpack framing. */
export const REPLY_BUDGET = MAX_MESSAGE_BYTES - 16 * 1024;

/** The bytes `write` puts down, for constants written on every reply. */
function bytesOf(write: (w: MsgpackWriter) => void): Uint8Array {
  const w = new MsgpackWriter(256);
  write(w);
  return w.copy();
}

// Keys in the order the reply objects have them (msgpackr writes an object's keys in its order):
// { v, ok, matches: [{ file: { fileId, name, size, chunkSize, chunkCount },
//   sources: [{ peerId, endpoint: { host, port }, claims?: { name, size, chunkSize, chunkCount } }] }] }
const REPLY_HEAD = bytesOf((w) => {
  w.map(3);
  w.str('v');
  w.number(PROTOCOL_VERSION);
  w.str('ok');
  w.bool(true);
  w.str('matches');
});
const MATCH_HEAD = bytesOf((w) => {
  w.map(2);
  w.str('file');
  w.map(5);
  w.str('fileId');
});
const SOURCE_HEAD = bytesOf((w) => {
  w.map(3);
  w.str('peerId');
});
const SOURCE_HEAD_NO_CLAIMS = bytesOf((w) => {
  w.map(2);
  w.str('peerId');
});
const ENDPOINT_HOST = bytesOf((w) => {
  w.str('endpoint');
  w.map(2);
  w.str('host');
});
const CLAIMS_NAME = bytesOf((w) => {
  w.str('claims');
  w.map(4);
  w.str('name');
});
const NAME = strBytes('name');
const SIZE = strBytes('size');
const CHUNK_SIZE = strBytes('chunkSize');
const CHUNK_COUNT = strBytes('chunkCount');
const PORT = strBytes('port');
const SOURCES = strBytes('sources');

/** One source, as the map `{ peerId, endpoint: { host, port }, claims? }`. */
export function writeSource(w: MsgpackWriter, peerId: string, endpoint: Endpoint, claims: SourceClaims | undefined): void {
  w.raw(claims ? SOURCE_HEAD : SOURCE_HEAD_NO_CLAIMS);
  writePeer(w, peerId, endpoint);
  if (claims) writeClaims(w, claims);
}

/** A source's `peerId` value through its `port` value. */
function writePeer(w: MsgpackWriter, peerId: string, endpoint: Endpoint): void {
  w.str(peerId);
  w.raw(ENDPOINT_HOST);
  w.str(endpoint.host);
  w.raw(PORT);
  w.number(endpoint.port);
}

function writeClaims(w: MsgpackWriter, claims: SourceClaims): void {
  w.raw(CLAIMS_NAME);
  writeNamed(w, claims);
}

/** The values from `name` on, shared by a FileMeta and a source's claims (their keys in that order). */
function writeNamed(w: MsgpackWriter, m: SourceClaims): void {
  w.str(m.name);
  w.raw(SIZE);
  w.number(m.size);
  w.raw(CHUNK_SIZE);
  w.number(m.chunkSize);
  w.raw(CHUNK_COUNT);
  w.number(m.chunkCount);
}

/**
 * A peer's id and endpoint as written in a source, kept on its record as a one-byte string: one
 * copy per source from the record's own memory, instead of encoding two strings read from three
 * objects spread over a large heap (in the tracker under lookup-latency's load, writing the
 * sources was a third of its CPU, most of it waiting on memory; in a loop with warm caches, little).
 */
function peerBytes(peer: PeerRecord): string {
  if (peer.wireOf === peer.endpoint && peer.wire !== undefined) return peer.wire;
  const wire = Buffer.from(bytesOf((w) => writePeer(w, peer.peerId, peer.endpoint))).toString('latin1');
  peer.wire = wire;
  peer.wireOf = peer.endpoint;
  return wire;
}

export interface LookupReplyLimits {
  /** most sources per match: a file with more gets its freshest ones (latest lastSeen first) */
  maxSourcesPerMatch: number;
  /** most matches (default MAX_MATCHES) */
  maxMatches?: number;
  /** most bytes of matches (default REPLY_BUDGET) */
  budget?: number;
}

/** A written lookup reply and what it holds (for the log). */
export interface WrittenLookup {
  reply: Encoded;
  matches: number;
  sources: number;
}

/**
 * Writes lookup replies (one writer per tracker: it reuses its buffer, each reply is a copy). The
 * reply is kept under the message limit as the tracker always kept it, with exact sizes where it
 * used estimates: at most `maxMatches` matches, at most `maxSourcesPerMatch` sources per match
 * (the most recently seen ones, which spreads load as heartbeats interleave), sources while the
 * match's bytes fit what is left of the budget, and matches while at least the file itself fits
 * (then with no source; a file that does not fit ends the reply).
 */
export class LookupReplyWriter {
  private readonly w = new MsgpackWriter();
  private readonly maxSources: number;
  private readonly maxMatches: number;
  private readonly budget: number;

  constructor(limits: LookupReplyLimits) {
    this.maxSources = limits.maxSourcesPerMatch;
    this.maxMatches = limits.maxMatches ?? MAX_MATCHES;
    this.budget = limits.budget ?? REPLY_BUDGET;
  }

  /** The reply for these files (in reply order: lookupByName's). */
  write(files: readonly FileEntry[]): WrittenLookup {
    const w = this.w;
    w.reset();
    w.raw(REPLY_HEAD);
    // the count is written for every file, then patched if the budget cut the list short
    const n = Math.min(files.length, this.maxMatches);
    const countAt = w.pos;
    w.array(n);
    let budget = this.budget;
    let matches = 0;
    let sources = 0;
    for (let i = 0; i < n; i++) {
      const start = w.pos;
      const kept = this.writeMatch(files[i]!, budget);
      const size = w.pos - start;
      // only a file that does not fit even without its sources is over
      if (size > budget) {
        w.pos = start;
        break;
      }
      budget -= size;
      matches++;
      sources += kept;
    }
    if (matches !== n) w.patchArray(countAt, n, matches);
    return { reply: new Encoded(w.copy()), matches, sources };
  }

  /** `{ file, sources }` with the sources that fit in `budget`; returns how many it kept. */
  private writeMatch(entry: FileEntry, budget: number): number {
    const w = this.w;
    const start = w.pos;
    const meta = metaOf(entry);
    w.raw(MATCH_HEAD);
    w.str(meta.fileId);
    w.raw(NAME);
    writeNamed(w, meta);
    w.raw(SOURCES);
    const count = sourceCount(entry);
    const over = count > this.maxSources;
    const list = over ? freshest(entry, this.maxSources) : undefined;
    const expected = over ? this.maxSources : count;
    const countAt = w.pos;
    w.array(expected);
    // the match's bytes with k sources: what precedes the array, its header for k, the sources
    const before = countAt - start;
    const items = w.pos;
    let kept = 0;
    /** one source, unless it would go over the budget (then false: stop) */
    const one = (peer: PeerRecord, claims: SourceClaims | undefined): boolean => {
      const at = w.pos;
      w.raw(claims ? SOURCE_HEAD : SOURCE_HEAD_NO_CLAIMS);
      w.latin1(peerBytes(peer));
      if (claims) writeClaims(w, claims);
      if (before + MsgpackWriter.arrayHeaderBytes(kept + 1) + (w.pos - items) > budget) {
        w.pos = at;
        return false;
      }
      kept++;
      return true;
    };
    if (list) {
      for (const [peer, claims] of list) if (!one(peer, claims)) break;
    } else eachSource(entry, one);
    if (kept !== expected) w.patchArray(countAt, expected, kept);
    return kept;
  }
}

/** The `max` most recently seen sources, latest first (announce order among equals). */
function freshest(entry: FileEntry, max: number): Array<[PeerRecord, SourceClaims]> {
  return sourcePairs(entry).sort((a, b) => b[0].lastSeen - a[0].lastSeen).slice(0, max);
}
