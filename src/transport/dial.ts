// Opening a chunk connection: TCP, then TLS when configured. The server's certificate chain is
// checked against the configured CA; the host name is not (peers are addressed by IP and their
// certificates need not name it): any certificate the swarm's CA signed is accepted.
import { connect as netConnect, type OnReadOpts, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { AuthFailedError, PeerTimeoutError, PeerUnreachableError, type P2PError } from '../errors.js';
import type { ClientSecurity } from './security.js';

/** Options of dial. */
export interface DialOptions {
  /** for TCP connect and TLS handshake together */
  timeoutMs: number;
  tls?: ClientSecurity['tls'];
  /**
   * Plain TCP only (ignored with TLS): read into this one buffer again and again and hand each
   * read to `callback` (node's `onread`), instead of a fresh buffer per read and 'data' events.
   */
  onread?: OnReadOpts;
}

/**
 * A connected socket to `endpoint` (a TLS socket whose server proved a trusted certificate when
 * `tls` is set). PeerTimeoutError, PeerUnreachableError, or AuthFailedError for an untrusted
 * certificate.
 */
export function dial(endpoint: { host: string; port: number }, opts: DialOptions): Promise<Socket> {
  const remote = `${endpoint.host}:${endpoint.port}${isLoopback(endpoint.host) ? LOOPBACK_HINT : ''}`;
  return new Promise((resolve, reject) => {
    const onread = opts.tls ? undefined : opts.onread;
    const raw = netConnect({ host: endpoint.host, port: endpoint.port, noDelay: true, ...(onread ? { onread } : {}) });
    let socket: Socket = raw;
    let settled = false;
    const fail = (err: P2PError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      raw.destroy();
      reject(err);
    };
    const succeed = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      raw.off('error', onRawError);
      socket.off('error', onTlsError);
      resolve(socket);
    };
    const timer = setTimeout(() => fail(new PeerTimeoutError(`no connection to ${remote} within ${opts.timeoutMs} ms`)), opts.timeoutMs);
    const onRawError = (err: Error) => fail(new PeerUnreachableError(`cannot connect to ${remote}: ${err.message}`, { cause: err }));
    const onTlsError = (err: Error) =>
      fail(new PeerUnreachableError(`TLS handshake with ${remote} failed (does it serve TLS?): ${err.message}`, { cause: err }));
    raw.once('error', onRawError);
    raw.once('connect', () => {
      if (!opts.tls) return succeed();
      const secure = tlsConnect({
        socket: raw,
        ...opts.tls,
        // checked below, so an untrusted certificate is told apart from a broken handshake
        rejectUnauthorized: false,
        checkServerIdentity: () => undefined,
      });
      socket = secure;
      secure.once('error', onTlsError);
      secure.once('secureConnect', () => {
        if (secure.authorized) return succeed();
        fail(new AuthFailedError(`${remote}'s TLS certificate is not trusted: ${String(secure.authorizationError)}`));
      });
    });
  });
}

/** Said of a source that announced a loopback address: the usual cause when it cannot be reached. */
const LOOPBACK_HINT = ' (the source announced a loopback address: if it runs on another machine, it was started without --host and is reachable only from its own)';

/** 127.0.0.0/8, ::1, localhost: addresses no other host can reach. */
export function isLoopback(host: string): boolean {
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) || host === '::1' || host === '[::1]' || host.toLowerCase() === 'localhost';
}
