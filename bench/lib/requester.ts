// A lean NATS requester for the load cases: one wildcard reply subscription and a map of pending
// requests, swept for timeouts twice a second, instead of nats.js' per-request timer. At 5 000
// requests/s on two cores the load generator must cost as little as possible, or it measures itself.
import type { MsgHdrs, NatsConnection, Subscription } from 'nats';
import type { Scope } from './scope.js';

interface Pending {
  resolve(data: Uint8Array): void;
  reject(err: Error): void;
  sentAt: number;
}

export class Requester {
  private readonly pending = new Map<number, Pending>();
  private readonly sub: Subscription;
  private readonly sweeper: NodeJS.Timeout;
  private readonly inbox: string;
  private next = 1;

  constructor(
    private readonly nc: NatsConnection,
    scope: Scope,
    private readonly timeoutMs = 5000,
  ) {
    this.inbox = `_INBOX.bench${process.pid}.${Math.random().toString(36).slice(2, 10)}`;
    this.sub = nc.subscribe(`${this.inbox}.*`, {
      callback: (err, m) => {
        if (err) return;
        const id = Number(m.subject.slice(this.inbox.length + 1));
        const p = this.pending.get(id);
        if (!p) return; // answered after its timeout
        this.pending.delete(id);
        p.resolve(m.data);
      },
    });
    this.sweeper = setInterval(() => this.sweep(), 500);
    scope.defer(() => this.close());
  }

  /** Publish `data` to `subject` with a reply subject of ours; resolves with the answer's bytes. */
  request(subject: string, data: Uint8Array, headers?: MsgHdrs): Promise<Uint8Array> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, sentAt: performance.now() });
      try {
        this.nc.publish(subject, data, { reply: `${this.inbox}.${id}`, headers });
      } catch (err) {
        this.pending.delete(id);
        reject(err as Error);
      }
    });
  }

  private sweep(): void {
    const limit = performance.now() - this.timeoutMs;
    for (const [id, p] of this.pending) {
      if (p.sentAt > limit) break; // in sending order: the rest are younger
      this.pending.delete(id);
      p.reject(new Error(`no answer within ${this.timeoutMs} ms`));
    }
  }

  close(): void {
    clearInterval(this.sweeper);
    this.sub.unsubscribe();
    for (const p of this.pending.values()) p.reject(new Error('requester closed'));
    this.pending.clear();
  }
}
