// The peer's side of the tracker: announce every file (in batches), heartbeat (re-announce when
// the tracker forgot us), re-announce when a tracker says hello, rescan shared/ for changes, say
// bye on stop, and resolve a download target (a local copy wins, else the tracker's best match).
import type { NatsConnection, Subscription } from 'nats';
import type { Logger } from 'winston';
import type { LookupResult } from '../machines/download.js';
import { every, type Clock } from '../src/clock.js';
import { IdTakenError, P2PError } from '../src/errors.js';
import type { PeerIdentity } from '../src/identity.js';
import { isFileId } from '../src/protocol/ids.js';
import { ANNOUNCE_BATCH, PROTOCOL_VERSION, type Endpoint, type FileMeta, type LookupMatch } from '../src/protocol/messages.js';
import { Events, Requests, at } from '../src/protocol/routes.js';
import type { Subjects } from '../src/protocol/subjects.js';
import { toMeta, type Library, type LibraryFile } from '../src/store/library.js';
import { listenEvent, publishEvent, requestRoute, type RequestOptions } from '../src/transport/bus.js';

export interface TrackerClientComponents {
  nc: NatsConnection;
  logger: Logger;
  clock: Clock;
  subjects: Subjects;
  /** signs announces, heartbeats and byes: the tracker binds our id to this key */
  identity: PeerIdentity;
  library: Library;
}

export interface TrackerClientOptions {
  peerId: string;
  endpoint: () => Endpoint;
  heartbeatMs: number;
  rescanMs: number;
}

export class TrackerClient {
  private readonly log: Logger;
  private sub: Subscription | undefined;
  private timers: Array<() => void> = [];
  private announcing: Promise<void> | undefined;
  private started = false;
  private stopped = false;

  constructor(
    private readonly components: TrackerClientComponents,
    private readonly options: TrackerClientOptions,
  ) {
    this.log = components.logger.child({ actor: 'tracker-client' });
  }

  /** Announce everything (a failure is retried by the heartbeat), then heartbeat and rescan. */
  async start(): Promise<void> {
    const { nc, subjects, clock } = this.components;
    this.sub = listenEvent(nc, at(Events.hello, subjects), () => this.onTrackerHello(), { log: this.log });
    await nc.flush();
    this.started = true;
    await this.announceAll().catch((err) => this.log.warn('announce failed, will retry', { err: (err as Error).message }));
    this.timers.push(every(clock, this.options.heartbeatMs, () => void this.heartbeat()));
    this.timers.push(every(clock, this.options.rescanMs, () => void this.rescan()));
  }

  /**
   * Ask the tracker which key our id is bound to: another key means another peer runs (or ran)
   * under it, and we refuse to start rather than answer requests meant for it. No tracker yet:
   * nothing to check now; the tracker refuses our announces later if the id is not ours.
   * The peer calls this before it serves anything under the id.
   */
  async checkId(): Promise<void> {
    const { nc, subjects, identity } = this.components;
    const peerId = this.options.peerId;
    let reply;
    try {
      reply = await requestRoute(nc, at(Requests.key, subjects), { v: PROTOCOL_VERSION, peerId }, this.requestOptions(false));
    } catch (err) {
      this.log.warn('cannot check our peer id with the tracker now', { err: (err as Error).message });
      return;
    }
    if (reply.key === undefined || reply.key === identity.publicKey) return;
    const who = reply.live ? 'a running peer holds it' : 'a peer that is not running now holds it';
    throw new IdTakenError(
      `peer id ${peerId} is bound to another key at the tracker (${who}); start with another --id, or restore the .p2p/identity.key of the folder that first used this id`,
    );
  }

  /** The key the tracker binds `peerId` to (undefined: none yet). Throws when no tracker answers. */
  async keyOf(peerId: string): Promise<string | undefined> {
    const { nc, subjects } = this.components;
    return (await requestRoute(nc, at(Requests.key, subjects), { v: PROTOCOL_VERSION, peerId }, this.requestOptions(false))).key;
  }

  /** Stop the timers and tell the tracker we leave (idempotent). */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const cancel of this.timers) cancel();
    this.sub?.unsubscribe();
    const { nc, subjects } = this.components;
    if (this.started) publishEvent(nc, at(Events.bye, subjects), { v: PROTOCOL_VERSION, peerId: this.options.peerId }, this.log, this.sign);
  }

  private readonly sign = (subject: string, payload: Uint8Array) => this.components.identity.sign(subject, payload);

  private requestOptions(signed: boolean): RequestOptions {
    return { timeoutMs: 3000, who: 'tracker', noResponders: () => new P2PError('NO_SOURCES', 'no tracker is answering'), sign: signed ? this.sign : undefined };
  }

  /** Announce every file, in batches that keep each message small. */
  announceAll(): Promise<void> {
    this.announcing ??= (async () => {
      const metas = this.components.library.metas();
      for (let i = 0; i === 0 || i < metas.length; i += ANNOUNCE_BATCH) {
        await this.sendAnnounce(metas.slice(i, i + ANNOUNCE_BATCH), [], i === 0);
      }
      this.log.info('announced', { files: metas.length });
    })().finally(() => {
      this.announcing = undefined;
    });
    return this.announcing;
  }

  /** Announce files added and removed since the last announce. */
  async announceChanges(added: LibraryFile[], removed: string[]): Promise<void> {
    const metas = added.map(toMeta);
    for (let i = 0; i < Math.max(metas.length, removed.length); i += ANNOUNCE_BATCH) {
      await this.sendAnnounce(metas.slice(i, i + ANNOUNCE_BATCH), removed.slice(i, i + ANNOUNCE_BATCH), false).catch((err) =>
        this.log.warn('announce failed', { err: (err as Error).message }),
      );
    }
  }

  private async sendAnnounce(files: FileMeta[], removed: string[], replace: boolean): Promise<void> {
    const { nc, subjects } = this.components;
    const msg = { v: PROTOCOL_VERSION, peerId: this.options.peerId, endpoint: this.options.endpoint(), replace, files, removed };
    await requestRoute(nc, at(Requests.announce, subjects), msg, this.requestOptions(true));
  }

  private async heartbeat(): Promise<void> {
    if (this.stopped) return;
    const { nc, subjects, library } = this.components;
    try {
      const msg = { v: PROTOCOL_VERSION, peerId: this.options.peerId, endpoint: this.options.endpoint(), fileCount: library.count() };
      const reply = await requestRoute(nc, at(Requests.heartbeat, subjects), msg, this.requestOptions(true));
      if (!reply.known) {
        this.log.info('tracker does not know us, re-announcing');
        await this.announceAll();
      }
    } catch (err) {
      this.log.debug('heartbeat failed', { err: (err as Error).message });
    }
  }

  private onTrackerHello(): void {
    if (this.stopped) return;
    this.log.info('tracker (re)started, re-announcing');
    void this.announceAll().catch((err) => this.log.warn('announce failed', { err: (err as Error).message }));
  }

  private async rescan(): Promise<void> {
    if (this.stopped) return;
    try {
      const { added, removed } = await this.components.library.scan();
      if (!added.length && !removed.length) return;
      this.log.info('shared files changed', { added: added.map((f) => f.name), removed: removed.map((f) => f.name) });
      await this.announceChanges(added, removed.map((f) => f.fileId));
    } catch (err) {
      this.log.warn('rescan failed', { err: (err as Error).message });
    }
  }

  /** Resolve a download target for the machine: a local copy wins, else the tracker's best match. */
  async lookup(target: string): Promise<LookupResult> {
    const { nc, subjects, library } = this.components;
    const isId = isFileId(target);
    const localCopy = (f: LibraryFile): LookupResult => ({ kind: 'found', file: toMeta(f), sources: [], localPath: f.path });
    if (isId) {
      const local = library.get(target);
      if (local) return localCopy(local);
    }
    let matches: LookupMatch[] = [];
    try {
      const query = isId ? { v: PROTOCOL_VERSION, fileId: target } : { v: PROTOCOL_VERSION, name: target };
      matches = (await requestRoute(nc, at(Requests.lookup, subjects), query, this.requestOptions(false))).matches;
    } catch (err) {
      const local = isId ? undefined : library.findByName(target)[0];
      if (local) return localCopy(local);
      throw err;
    }
    for (const m of matches) {
      const local = library.get(m.file.fileId);
      if (local) return { kind: 'found', file: m.file, sources: [], localPath: local.path };
    }
    const localByName = isId ? undefined : library.findByName(target)[0];
    if (localByName && matches.length === 0) return localCopy(localByName);
    const best = matches
      .map((m) => ({ file: m.file, sources: m.sources.filter((s) => s.peerId !== this.options.peerId) }))
      .sort((a, b) => b.sources.length - a.sources.length)[0];
    if (!best) return { kind: 'missing' };
    return { kind: 'found', file: best.file, sources: best.sources };
  }
}
