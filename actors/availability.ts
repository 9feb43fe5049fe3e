// The peer's swarm availability: downloads in progress are served to others and announced as
// they grow (the full bitfield first, then the chunks gained, batched: one message per file per
// window, `batchMs` while few others download the file, wider as more do: announce-pace.ts),
// queries are answered for every file held whole or in part (at most once per file per window:
// downloaders starting together query together), and download sessions watch their file's
// subject to pick up new sources and chunks live. Every message goes
// out signed by our identity; a received one counts only when its signature is good, its key is
// the one the tracker binds to the peer id it names, and it is newer than the last from that peer.
import type { NatsConnection, Subscription } from 'nats';
import type { Logger } from 'winston';
import { bitfieldBytes, toRanges } from '../src/protocol/bitfield.js';
import {
  MAX_GAINED_RANGES,
  type AvailabilityQuery,
  type ChunkAvailability,
  PROTOCOL_VERSION,
  type Endpoint,
  type Source,
} from '../src/protocol/messages.js';
import type { Subjects } from '../src/protocol/subjects.js';
import { listenEvent, publishEvent, type MessageMeta } from '../src/transport/bus.js';
import { verifySignature, type PeerIdentity } from '../src/identity.js';
import type { PeerKeys } from './peer-keys.js';
import { Events, at } from '../src/protocol/routes.js';
import type { HaveUpdate } from '../src/download/picker.js';
import { AnswerPacer, announceWindowMs, DownloaderCount } from '../src/download/announce-pace.js';
import { systemClock } from '../src/clock.js';
import type { PartialDownload } from '../src/store/partial.js';

export interface AvailabilityComponents {
  nc: NatsConnection;
  logger: Logger;
  subjects: Subjects;
  /** signs what we publish in our name */
  identity: PeerIdentity;
  /** which key owns which peer id (the tracker's bindings) */
  keys: PeerKeys;
}

export interface AvailabilityOptions {
  peerId: string;
  /** where our chunk server is reached */
  endpoint: () => Endpoint;
  /** the chunk count of a file we hold whole, else undefined */
  holds: (fileId: string) => number | undefined;
  /** least time between two messages about one file (default 50 ms: neighbours learn fast what we have); wider in a big swarm */
  batchMs?: number;
  /** the window with `others` other downloaders of the file heard lately (default: announceWindowMs, announce-pace.ts) */
  pace?: (others: number, baseMs: number) => number;
}

/** An availability message before the sender's id and endpoint are added. */
type Outgoing = Omit<ChunkAvailability, 'v' | 'peerId' | 'endpoint'>;

/** A download in progress, served and announced while it runs. */
export interface SharedDownload {
  /** chunk `index` was verified and written */
  gained(index: number): void;
  /** stop serving and announcing it: those who heard of it are told it has nothing now */
  close(): void;
}

/** Owned by the peer: `start()`, `stop()`. */
export class SwarmAvailability {
  private readonly shared = new Map<string, { partial: PartialDownload; announcer: Announcer }>();
  private sub: Subscription | undefined;
  private readonly log: Logger;
  /** the newest signature timestamp seen per peer id on the queries subject: older ones are replays */
  private readonly queryTs = new Map<string, number>();
  /** per file we watch: the other peers heard downloading it (our window widens with them) */
  private readonly downloaders = new Map<string, DownloaderCount>();
  /** answers to queries: one per file per window (downloaders starting together query together) */
  private readonly answers = new AnswerPacer(systemClock);
  private readonly sign = (subject: string, payload: Uint8Array) => this.components.identity.sign(subject, payload);

  constructor(
    private readonly components: AvailabilityComponents,
    private readonly options: AvailabilityOptions,
  ) {
    this.log = components.logger.child({ actor: 'availability' });
  }

  /** Answer availability queries for what we hold. */
  start(): void {
    const { nc, subjects } = this.components;
    this.sub = listenEvent(
      nc,
      at(Events.availabilityQueries, subjects),
      async (m, meta) => {
        if (m.peerId !== this.options.peerId && (await this.provenBy(m.peerId, meta, this.queryTs))) this.onQuery(m, meta.subject);
      },
      { log: this.log },
    );
  }

  stop(): void {
    this.sub?.unsubscribe();
    this.answers.stop();
    for (const { announcer } of this.shared.values()) announcer.close();
    this.shared.clear();
  }

  /** Our peer id (downloads share the seeder's chunks out by it). */
  get peerId(): string {
    return this.options.peerId;
  }

  /** The download in progress of `fileId`, if we serve one (for the chunk server). */
  partial(fileId: string): PartialDownload | undefined {
    return this.shared.get(fileId)?.partial;
  }

  /** Serve and announce a download in progress (its verified chunks so far go out at once). */
  share(partial: PartialDownload): SharedDownload {
    const fileId = partial.fileId;
    this.shared.get(fileId)?.announcer.close();
    const announcer = new Announcer((m) => this.send(m), partial, () => this.windowMs(fileId));
    const entry = { partial, announcer };
    this.shared.set(fileId, entry);
    announcer.start();
    return {
      gained: (index) => announcer.gained(index),
      close: () => {
        announcer.close();
        if (this.shared.get(fileId) === entry) this.shared.delete(fileId);
      },
    };
  }

  /** We now hold `fileId` whole: tell its downloaders. */
  announceComplete(fileId: string, chunkCount: number): void {
    this.send({ fileId, chunkCount, complete: true });
  }

  /** Follow who has what of `fileId` (other peers only) until the returned function is called. */
  watch(fileId: string, chunkCount: number, onChange: (source: Source, change: HaveUpdate) => void): () => void {
    const { nc, subjects } = this.components;
    const seen = new Map<string, number>();
    const others = new DownloaderCount();
    this.downloaders.set(fileId, others);
    const sub = listenEvent(
      nc,
      at(Events.availability, subjects, fileId),
      async (m, meta) => {
        if (m.peerId === this.options.peerId || m.fileId !== fileId || m.chunkCount !== chunkCount) return;
        if (!(await this.provenBy(m.peerId, meta, seen))) return;
        const source = { peerId: m.peerId, endpoint: m.endpoint };
        if (m.complete) others.gone(m.peerId);
        else others.heard(m.peerId, Date.now());
        if (m.complete) onChange(source, { kind: 'all' });
        else if (m.bitfield) onChange(source, { kind: 'bits', bits: m.bitfield });
        else if (m.gained) onChange(source, { kind: 'gained', ranges: m.gained });
      },
      { log: this.log },
    );
    return () => {
      sub.unsubscribe();
      if (this.downloaders.get(fileId) === others) this.downloaders.delete(fileId);
    };
  }

  /** Ask the swarm who has `fileId`: holders and downloaders answer on its subject with what they have. */
  query(fileId: string): void {
    const { nc, subjects } = this.components;
    publishEvent(nc, at(Events.availabilityQuery, subjects, fileId), { v: PROTOCOL_VERSION, peerId: this.options.peerId, fileId }, this.log, this.sign);
  }

  /** The window between two messages about `fileId`: the base, wider the more others download it. */
  private windowMs(fileId: string): number {
    const pace = this.options.pace ?? announceWindowMs;
    return pace(this.downloaders.get(fileId)?.count(Date.now()) ?? 0, this.options.batchMs ?? 50);
  }

  private onQuery(m: AvailabilityQuery, subject: string): void {
    if (m.peerId === this.options.peerId || subject !== this.components.subjects.availQuery(m.fileId)) return;
    if (this.options.holds(m.fileId) === undefined && !this.shared.has(m.fileId)) return;
    this.answers.query(m.fileId, this.windowMs(m.fileId), () => this.answer(m.fileId));
  }

  /** What we hold of `fileId` now: complete, or the bitfield of our download (nothing if neither any more). */
  private answer(fileId: string): void {
    const whole = this.options.holds(fileId);
    if (whole !== undefined) return this.announceComplete(fileId, whole);
    this.shared.get(fileId)?.announcer.sendFull();
  }

  private send(m: Outgoing): void {
    const message: ChunkAvailability = { v: PROTOCOL_VERSION, peerId: this.options.peerId, endpoint: this.options.endpoint(), ...m };
    publishEvent(this.components.nc, at(Events.availability, this.components.subjects, m.fileId), message, this.log, this.sign);
  }

  /**
   * The message is `peerId`'s: signed, by the key the tracker binds to that id, and newer than
   * the last one from it. Anything else is dropped with a log line.
   */
  private async provenBy(peerId: string, meta: MessageMeta, lastTs: Map<string, number>): Promise<boolean> {
    let signer;
    try {
      signer = verifySignature(meta.subject, meta.data, meta.headers);
    } catch (err) {
      this.log.warn('availability message dropped: not signed by its sender', { subject: meta.subject, peerId, err: (err as Error).message });
      return false;
    }
    if (!(await this.components.keys.owns(peerId, signer.key))) {
      this.log.warn('availability message dropped: signed by a key that is not the peer\'s', { subject: meta.subject, peerId });
      return false;
    }
    const last = lastTs.get(peerId) ?? 0;
    if (signer.ts <= last) {
      this.log.warn('availability message dropped: replayed or out of order', { subject: meta.subject, peerId });
      return false;
    }
    if (!lastTs.has(peerId) && lastTs.size >= 10_000) lastTs.delete(lastTs.keys().next().value!);
    lastTs.set(peerId, signer.ts);
    return true;
  }
}

/** Batches one download's gains: the full bitfield first, then ranges at most once per window (asked as each batch starts). */
class Announcer {
  private pending: number[] = [];
  private timer: NodeJS.Timeout | undefined;
  private sentFull = false;
  private closed = false;

  constructor(
    private readonly send: (m: Outgoing) => void,
    private readonly partial: PartialDownload,
    private readonly windowMs: () => number,
  ) {}

  start(): void {
    if (this.partial.verifiedCount() > 0) this.sendFull();
  }

  gained(index: number): void {
    if (this.closed) return;
    this.pending.push(index);
    this.timer ??= setTimeout(() => this.flush(), this.windowMs());
  }

  /** The whole bitfield now (it covers anything pending). Nothing while we have no chunk. */
  sendFull(): void {
    if (this.closed || this.partial.verifiedCount() === 0) return;
    this.pending = [];
    this.sentFull = true;
    this.send({ fileId: this.partial.fileId, chunkCount: this.partial.manifest.hashes.length, complete: false, bitfield: Buffer.from(this.partial.bitfield()) });
  }

  /**
   * Stop; if we ever announced chunks, say we have none now (we no longer serve them), unless
   * the download is complete: then "complete" follows once the file is served whole, and
   * neighbours keep asking us meanwhile (a NOT_FOUND in between is a miss, not a strike).
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = [];
    const count = this.partial.manifest.hashes.length;
    if (this.sentFull && !this.partial.isComplete()) this.send({ fileId: this.partial.fileId, chunkCount: count, complete: false, bitfield: Buffer.alloc(bitfieldBytes(count)) });
  }

  private flush(): void {
    this.timer = undefined;
    if (this.closed || this.pending.length === 0) return;
    const ranges = toRanges(this.pending);
    if (!this.sentFull || ranges.length > MAX_GAINED_RANGES) return this.sendFull();
    this.pending = [];
    this.send({ fileId: this.partial.fileId, chunkCount: this.partial.manifest.hashes.length, complete: false, gained: ranges });
  }
}
