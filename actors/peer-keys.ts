// Which key owns which peer id, as the tracker binds them (KeyRequest), cached: a receiver of a
// message signed in a peer's name (availability, queries) checks the signer's key is the one
// the tracker bound to that id before it believes the message. One request per unknown id in
// flight; a known binding is trusted for `ttlMs`, and a message under a known id with another
// key is refused without asking again (a forger cannot make us flood the tracker).
import type { Clock } from '../src/clock.js';

export class PeerKeys {
  private readonly known = new Map<string, { key: string | undefined; at: number }>();
  private readonly pending = new Map<string, Promise<string | undefined>>();

  constructor(
    private readonly lookup: (peerId: string) => Promise<string | undefined>,
    private readonly clock: Pick<Clock, 'now'>,
    private readonly opts: { ttlMs?: number; unboundTtlMs?: number; max?: number } = {},
  ) {}

  /** True when the tracker binds `peerId` to `key`. Never throws (no tracker: false, unless known). */
  async owns(peerId: string, key: string): Promise<boolean> {
    const now = this.clock.now();
    const k = this.known.get(peerId);
    if (k && now - k.at < (k.key === undefined ? (this.opts.unboundTtlMs ?? 2000) : (this.opts.ttlMs ?? 300_000))) return k.key === key;
    let p = this.pending.get(peerId);
    if (!p) {
      p = this.lookup(peerId).finally(() => this.pending.delete(peerId));
      this.pending.set(peerId, p);
    }
    let bound: string | undefined;
    try {
      bound = await p;
    } catch {
      // no tracker now: what we learnt before still holds
      return k?.key === key && k.key !== undefined;
    }
    const max = this.opts.max ?? 10_000;
    if (!this.known.has(peerId) && this.known.size >= max) this.known.delete(this.known.keys().next().value!);
    this.known.set(peerId, { key: bound, at: this.clock.now() });
    return bound === key;
  }
}
