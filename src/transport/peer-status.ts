// A peer's whole status, page by page (issue 9, class 4: a status is cut into pages that fit the
// broker's max payload — the shared files first, then the downloads), joined into one reply
// without a `next`. The CLI (`status`, `get`, `trace`, `cancel`) and the dashboard read it so.
import type { NatsConnection } from 'nats';
import { ProtocolError, type P2PError } from '../errors.js';
import { Light } from '../protocol/checked-replies.js';
import { PROTOCOL_VERSION } from '../protocol/ids.js';
import type { StatusReply } from '../protocol/messages.js';
import type { Subjects } from '../protocol/subjects.js';
import { request } from './bus.js';

export interface PeerStatusOptions {
  /** only this download (and the shared files) */
  downloadId?: string;
  timeoutMs: number;
  /** the error when nobody answers as this peer */
  noResponders?: () => P2PError;
}

export async function peerStatus(nc: NatsConnection, s: Subjects, peer: string, opts: PeerStatusOptions): Promise<StatusReply> {
  const { downloadId, timeoutMs, noResponders } = opts;
  const ask = (cursor?: number) =>
    request(nc, s.status(peer), { v: PROTOCOL_VERSION, ...(downloadId ? { downloadId } : {}), ...(cursor ? { cursor } : {}) }, Light.StatusReply, {
      timeoutMs,
      who: `peer ${peer}`,
      ...(noResponders ? { noResponders } : {}),
    });
  const first = await ask();
  const { next: _next, ...all } = first;
  for (let next = first.next; next !== undefined; ) {
    const page = await ask(next);
    all.shared.push(...page.shared);
    all.downloads.push(...page.downloads);
    // a page that brings nothing would loop forever: a peer that does not page right
    if (page.next !== undefined && page.next <= next) throw new ProtocolError(`peer ${peer} sent a status page that does not move on`);
    next = page.next;
  }
  return all;
}
