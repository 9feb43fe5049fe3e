// Who may open a chunk connection: the peer's connection cap and a cap per remote address, so
// one host opening hundreds of sockets cannot crowd out the others. Refused connections are told
// BUSY (over TLS once its handshake is done) and closed within a second.
import type { Socket } from 'node:net';
import { TLSSocket, type SecureContext } from 'node:tls';
import { encodeError } from '../protocol/frames.js';

/** Refused sockets being told BUSY at once at most; past that they are dropped outright. */
const MAX_REFUSING = 512;
/** A refused socket is destroyed after this long whatever the other side does. */
const REFUSE_LINGER_MS = 1000;

/** Options of ConnectionCaps. */
export interface ConnectionCapsOptions {
  maxConnections: number;
  maxConnectionsPerAddress: number;
}

/** Connection counts, total and per remote address (IPv4-mapped IPv6 counted as IPv4). */
export class ConnectionCaps {
  private total = 0;
  private readonly byAddress = new Map<string, number>();
  private readonly refusing = new Set<Socket>();
  private refused = 0;

  constructor(private readonly opts: ConnectionCapsOptions) {}

  /** Connections refused so far. */
  get refusedCount(): number {
    return this.refused;
  }

  /** Why `address` may not open one more connection now, or undefined if it may. */
  refusal(address: string): string | undefined {
    if (this.total >= this.opts.maxConnections) return 'too many connections';
    if ((this.byAddress.get(address) ?? 0) >= this.opts.maxConnectionsPerAddress) return 'too many connections from your address';
    return undefined;
  }

  /** Count an admitted connection; the returned function uncounts it (idempotent). */
  take(address: string): () => void {
    this.total++;
    this.byAddress.set(address, (this.byAddress.get(address) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      const n = (this.byAddress.get(address) ?? 1) - 1;
      if (n > 0) this.byAddress.set(address, n);
      else this.byAddress.delete(address);
    };
  }

  /** Tell `raw` BUSY (reqId 0: the whole connection) and close it; over TLS after the handshake. */
  refuse(raw: Socket, reason: string, tls: SecureContext | undefined): void {
    this.refused++;
    if (this.refusing.size >= MAX_REFUSING) return void raw.destroy();
    this.refusing.add(raw);
    const timer = setTimeout(() => raw.destroy(), REFUSE_LINGER_MS);
    timer.unref();
    raw.once('close', () => {
      clearTimeout(timer);
      this.refusing.delete(raw);
    });
    const frame = encodeError(0, 'BUSY', reason);
    if (!tls) return void raw.end(frame);
    const secure = new TLSSocket(raw, { isServer: true, secureContext: tls });
    secure.on('error', () => raw.destroy());
    secure.once('secure', () => secure.end(frame));
  }

  /** Drop every socket still being refused (server stop). */
  destroyRefusing(): void {
    for (const socket of this.refusing) socket.destroy();
  }
}

/** The remote address a connection is counted under. */
export function remoteAddressOf(socket: Socket): string {
  const address = socket.remoteAddress ?? 'unknown';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}
