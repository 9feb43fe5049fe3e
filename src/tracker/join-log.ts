// The tracker's "peer joined" lines, bounded: one by one up to `perSecond` a second, then one
// count a second. After a restart 10 000 peers re-announce at once, and each console line is a
// synchronous write to a pipe (20 % of the tracker's CPU in the tracker-restart profile).
import type { Logger } from 'winston';
import type { Endpoint } from '../protocol/messages.js';

export class JoinLog {
  private windowStart = 0;
  private logged = 0;
  private counted = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly log: Logger,
    private readonly clock: { now(): number },
    private readonly perSecond = 20,
  ) {}

  joined(peerId: string, endpoint: Endpoint): void {
    const now = this.clock.now();
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.logged = 0;
    }
    if (this.logged < this.perSecond) {
      this.logged++;
      this.log.info('peer joined', { peerId, host: endpoint.host, port: endpoint.port });
      return;
    }
    this.counted++;
    this.timer ??= setTimeout(() => this.flush(), 1000);
    this.timer.unref();
  }

  /** Log what was counted (stop calls this). */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.counted > 0) this.log.info('peers joined', { count: this.counted, note: `beyond ${this.perSecond} a second, counted` });
    this.counted = 0;
  }
}
