// Follows a KV bucket for as long as the tracker runs. A nats.js watch is an ordered consumer: when
// the node holding it goes away (killed, or cut off in a partition) it resets itself, and when the
// reset cannot be done it ends, or, worse, stays open and silent. Either way the instance's view
// would freeze while the others move on, and lookups answered by it would miss every later peer.
// So the follower restarts the watch from the last revision it applied (entries are idempotent:
// the view ignores revisions it has), when the watch ends and when the bucket's last sequence is
// ahead of what it applied for two checks in a row with nothing arriving in between.
import type { KV, KvEntry, QueuedIterator } from 'nats';
import type { Logger } from 'winston';
import { patiently } from './kv-patience.js';

export interface KvFollowOptions {
  /** how often the follower compares its position with the bucket's (ms) */
  checkMs?: number;
  /** how long one try of start() waits for the bucket's initial contents (ms); it tries until stopped */
  timeoutMs: number;
  /** named in the log lines and errors while the watch cannot start */
  what?: string;
}

export class KvFollower {
  /** highest stream sequence (KV revision) delivered by a watch */
  private lastSeq = 0;
  private watcher: QueuedIterator<KvEntry> | undefined;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  /** lastSeq seen by the previous check when the bucket was ahead of it (-1: it was not) */
  private behindAt = -1;
  private restarting = false;
  /** watches restarted (ended or stalled) since start */
  restarts = 0;

  constructor(
    private readonly kv: KV,
    private readonly log: Logger,
    private readonly onEntry: (e: KvEntry) => void,
    private readonly options: KvFollowOptions,
  ) {}

  /** Resolves once every entry already in the bucket has been applied. */
  async start(): Promise<void> {
    // a cluster that just started may still be electing the stream's leader: the watch's consumer
    // cannot be created yet (TIMEOUT). Wait, saying so, as for the bucket itself.
    await patiently(() => this.watchWithin(this.options.timeoutMs), { log: this.log, what: this.options.what ?? 'kv watch', stopped: () => this.stopped });
    this.timer = setInterval(() => void this.check(), this.options.checkMs ?? 5000);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.watcher?.stop();
  }

  /** Opens a watch from just after lastSeq; resolves when it has caught up with the bucket. */
  private async watch(): Promise<void> {
    let initialized!: () => void;
    const ready = new Promise<void>((resolve) => (initialized = resolve));
    const w = await this.kv.watch({ key: '>', initializedFn: () => initialized(), ...(this.lastSeq > 0 ? { resumeFromRevision: this.lastSeq + 1 } : {}) });
    this.watcher = w;
    void (async () => {
      for await (const e of w) {
        if (e.revision > this.lastSeq) this.lastSeq = e.revision;
        this.onEntry(e);
      }
    })()
      .catch((err) => this.log.warn('kv watch failed', { err: (err as Error).message }))
      .finally(() => {
        if (this.watcher === w && !this.stopped) void this.restart('the watch ended');
      });
    return ready;
  }

  /** watch(), failing (and stopping that watch) if it has not caught up within `ms`. */
  private async watchWithin(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.watch(),
        new Promise<void>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no initial contents within ${ms} ms`)), ms);
        }),
      ]);
    } catch (err) {
      const w = this.watcher;
      this.watcher = undefined;
      w?.stop();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Compare our position with the bucket's; restart a watch that stays behind without moving. */
  private async check(): Promise<void> {
    if (this.stopped || this.restarting) return;
    let last: number;
    try {
      last = (await this.kv.status()).streamInfo.state.last_seq;
    } catch {
      return; // the bucket cannot be read from here right now (a partition): the next check tries again
    }
    if (last <= this.lastSeq) {
      this.behindAt = -1;
      return;
    }
    if (this.behindAt === this.lastSeq) await this.restart(`behind the bucket (at ${this.lastSeq}, bucket at ${last}) with nothing arriving`);
    else this.behindAt = this.lastSeq;
  }

  private async restart(why: string): Promise<void> {
    if (this.stopped || this.restarting) return;
    this.restarting = true;
    this.restarts++;
    this.log.warn('kv watch restarted', { why, from: this.lastSeq + 1 });
    const old = this.watcher;
    this.watcher = undefined;
    old?.stop();
    try {
      // the same patience as at start, except that a broker known to have JetStream answering
      // "no responders" is cut off (a partition), not misconfigured: wait that out too
      await patiently(() => this.watchWithin(this.options.timeoutMs), { log: this.log, what: this.options.what ?? 'kv watch', stopped: () => this.stopped, noJetStreamMs: Infinity });
      this.behindAt = -1;
      this.log.info('kv watch caught up', { at: this.lastSeq });
    } catch {
      // stopped while waiting
    } finally {
      this.restarting = false;
    }
  }
}
