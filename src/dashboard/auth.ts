// Who may use the dashboard: a token (when one is set: always with --host) from the URL once,
// then an HttpOnly SameSite=Strict cookie; a Host check against DNS rebinding on loopback; and
// for actions a custom header plus same-origin check (no cross-site form can send those).
import { timingSafeEqual, createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

export const COOKIE = 'p2p_dashboard';
/** Header the page sends with every action; forms from other sites cannot set it. */
export const ACTION_HEADER = 'x-p2p-dashboard';

/** Security headers for every response: nothing loads from anywhere but this server. */
export const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Cache-Control': 'no-store',
};

export interface AccessOptions {
  /** required on every request when set */
  token?: string;
  /** loopback binding: only these Host headers are accepted */
  allowedHosts?: Set<string>;
}

const digest = (s: string) => createHash('sha256').update(s).digest();
const sameToken = (a: string, b: string) => timingSafeEqual(digest(a), digest(b));

export function cookieValue(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) {
      try {
        return decodeURIComponent(v.join('='));
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

export type Verdict = { ok: true; setCookie?: string } | { ok: false; status: number; message: string };

/** Check one request. `url` is the parsed request URL. */
export function checkAccess(req: IncomingMessage, url: URL, opts: AccessOptions): Verdict {
  const host = req.headers.host ?? '';
  if (opts.allowedHosts && !opts.allowedHosts.has(host.toLowerCase())) {
    return { ok: false, status: 421, message: 'this dashboard only answers on its loopback address' };
  }
  if (req.method === 'POST') {
    if (req.headers[ACTION_HEADER] !== '1') return { ok: false, status: 403, message: 'actions come from the dashboard page only' };
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== `http://${host}`) return { ok: false, status: 403, message: 'cross-origin action refused' };
  }
  if (!opts.token) return { ok: true };
  const fromQuery = url.searchParams.get('token');
  const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
  const fromCookie = cookieValue(req, COOKIE);
  for (const candidate of [fromQuery, bearer, fromCookie]) {
    if (candidate && sameToken(candidate, opts.token)) {
      return candidate === fromCookie ? { ok: true } : { ok: true, setCookie: `${COOKIE}=${encodeURIComponent(opts.token)}; HttpOnly; SameSite=Strict; Path=/` };
    }
  }
  return { ok: false, status: 401, message: 'token required: open the URL `p2p dashboard` printed (…/?token=…)' };
}

/** Send a short error in the form the route speaks (JSON for /api, text otherwise). */
export function refuse(res: ServerResponse, status: number, message: string, json: boolean): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': json ? 'application/json' : 'text/plain; charset=utf-8' });
  res.end(json ? JSON.stringify({ ok: false, code: status === 401 ? 'AUTH_FAILED' : 'PERMISSION_DENIED', message }) : message + '\n');
}
