// The dashboard's web side over node:http: one page and its assets (all served from this
// process: a LAN has no CDN), the swarm as JSON, live updates as server-sent events, and the
// page's actions (start a download on a peer, cancel one). Access rules live in auth.ts.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'winston';
import { z } from 'zod';
import type { Dashboard } from '../../actors/dashboard.js';
import { DownloadId, PeerId, type TraceEntry } from '../protocol/messages.js';
import { toP2PError } from '../errors.js';
import { checkAccess, refuse, SECURITY_HEADERS, type AccessOptions } from './auth.js';
import type { MachineGraph } from './graph.js';
import type { MachineLayout } from './layout.js';

/** The page's files: name → content type. Nothing else is ever read from disk. */
const ASSETS: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'views.js': 'text/javascript; charset=utf-8',
  'diagram.js': 'text/javascript; charset=utf-8',
  'charts.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
};

/** The page folder: next to this file in the sources, or the sources' copy when run from dist/. */
export function pageDir(): string {
  const here = fileURLToPath(new URL('./page/', import.meta.url));
  if (existsSync(here + 'index.html')) return here;
  return fileURLToPath(new URL('../../../src/dashboard/page/', import.meta.url));
}

const IntentBody = z.object({ peer: PeerId, target: z.string().min(1).max(255) });
const CancelBody = z.object({ peer: PeerId, downloadId: DownloadId });
const MAX_BODY = 16 * 1024;
const MAX_CLIENTS = 64;

export interface DashboardServerOptions extends AccessOptions {
  host: string;
  port: number;
  machine: { graph: MachineGraph; layout: MachineLayout };
  /** least time between two state pushes */
  pushMs?: number;
}

export class DashboardServer {
  private server: Server | undefined;
  private readonly clients = new Set<ServerResponse>();
  private pushTimer: NodeJS.Timeout | undefined;
  private keepAlive: NodeJS.Timeout | undefined;
  private lastPushed = -1;
  private readonly log: Logger;
  private readonly onTrace = (peerId: string, entry: TraceEntry) => this.broadcast('trace', { peerId, entry });

  constructor(
    private readonly dashboard: Dashboard,
    private readonly options: DashboardServerOptions,
    logger: Logger,
  ) {
    this.log = logger.child({ actor: 'dashboard-http' });
  }

  async start(): Promise<{ host: string; port: number }> {
    const server = createServer((req, res) => void this.route(req, res).catch((err) => this.fail(res, err)));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port, this.options.host, () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    if (this.options.allowedHosts) for (const h of ['127.0.0.1', 'localhost', '[::1]']) this.options.allowedHosts.add(`${h}:${port}`);
    this.dashboard.on('trace', this.onTrace);
    this.pushTimer = setInterval(() => this.pushState(), this.options.pushMs ?? 300);
    this.keepAlive = setInterval(() => this.clients.forEach((c) => c.write(': keep-alive\n\n')), 15_000);
    return { host: this.options.host, port };
  }

  async stop(): Promise<void> {
    clearInterval(this.pushTimer);
    clearInterval(this.keepAlive);
    this.dashboard.off('trace', this.onTrace);
    for (const c of this.clients) c.end();
    this.clients.clear();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server?.closeAllConnections?.();
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://dashboard.invalid');
    const api = url.pathname.startsWith('/api/') || url.pathname === '/events';
    const verdict = checkAccess(req, url, this.options);
    if (!verdict.ok) {
      this.log.warn('request refused', { path: url.pathname, status: verdict.status });
      return refuse(res, verdict.status, verdict.message, api);
    }
    if (verdict.setCookie) res.setHeader('Set-Cookie', verdict.setCookie);
    const get = req.method === 'GET' || req.method === 'HEAD';
    if (get && (url.pathname === '/' || url.pathname === '/index.html')) return this.asset(res, 'index.html');
    if (get && url.pathname.startsWith('/assets/')) return this.asset(res, url.pathname.slice('/assets/'.length));
    if (get && url.pathname === '/events') return this.events(req, res);
    if (get && url.pathname === '/api/state') return this.json(res, 200, this.dashboard.model.view());
    if (get && url.pathname === '/api/machine') return this.json(res, 200, this.options.machine);
    if (get && url.pathname === '/api/trace') {
      const peer = PeerId.safeParse(url.searchParams.get('peer'));
      const id = DownloadId.safeParse(url.searchParams.get('id'));
      if (!peer.success || !id.success) return this.json(res, 400, { ok: false, code: 'BAD_REQUEST', message: 'give peer and id' });
      try {
        return this.json(res, 200, { ok: true, ...(await this.dashboard.trace(peer.data, id.data)) });
      } catch (err) {
        // the peer is gone: what we saw live is still worth showing
        const entries = this.dashboard.model.trace(peer.data, id.data);
        if (entries.length) return this.json(res, 200, { ok: true, entries, truncated: 0, finished: entries.some((e) => e.final), stale: toP2PError(err).message });
        throw err;
      }
    }
    if (req.method === 'POST' && url.pathname === '/api/intent') {
      const body = IntentBody.parse(await this.body(req));
      return this.json(res, 200, { ok: true, ...(await this.dashboard.intent(body.peer, body.target)) });
    }
    if (req.method === 'POST' && url.pathname === '/api/cancel') {
      const body = CancelBody.parse(await this.body(req));
      await this.dashboard.cancel(body.peer, body.downloadId);
      return this.json(res, 200, { ok: true });
    }
    this.json(res, 404, { ok: false, code: 'NOT_FOUND', message: 'no such page' });
  }

  private async asset(res: ServerResponse, name: string): Promise<void> {
    // graph.js is the compiled src/dashboard/graph.ts: the page marks paths with the same code as the CLI
    const type = Object.hasOwn(ASSETS, name) ? ASSETS[name] : name === 'graph.js' ? ASSETS['app.js'] : undefined;
    if (!type) return this.json(res, 404, { ok: false, code: 'NOT_FOUND', message: 'no such asset' });
    const file = name === 'graph.js' ? fileURLToPath(new URL('./graph.js', import.meta.url)) : pageDir() + name;
    const body = await readFile(file);
    res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': type, 'Content-Length': body.length });
    res.end(body);
  }

  private events(req: IncomingMessage, res: ServerResponse): void {
    if (this.clients.size >= MAX_CLIENTS) return this.json(res, 503, { ok: false, code: 'BUSY', message: 'too many dashboard pages open' });
    res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': 'text/event-stream; charset=utf-8', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
    res.write('retry: 1000\n\n');
    res.write(`event: state\ndata: ${JSON.stringify(this.dashboard.model.view())}\n\n`);
    this.clients.add(res);
    req.on('close', () => this.clients.delete(res));
  }

  private pushState(): void {
    const version = this.dashboard.model.version;
    if (version === this.lastPushed || this.clients.size === 0) return;
    this.lastPushed = version;
    this.broadcast('state', this.dashboard.model.view());
  }

  private broadcast(event: string, data: unknown): void {
    if (this.clients.size === 0) return;
    const frame = `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
    for (const c of this.clients) c.write(frame);
  }

  private body(req: IncomingMessage): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (!/^application\/json\b/.test(req.headers['content-type'] ?? '')) return reject(Object.assign(new Error('send JSON'), { status: 415 }));
      let size = 0;
      const parts: Buffer[] = [];
      req.on('data', (d: Buffer) => {
        size += d.length;
        if (size > MAX_BODY) {
          reject(Object.assign(new Error('request body too large'), { status: 413 }));
          req.destroy();
        } else parts.push(d);
      });
      req.on('end', () => {
        try {
          resolve(JSON.parse(Buffer.concat(parts).toString('utf8')));
        } catch {
          reject(Object.assign(new Error('the body is not JSON'), { status: 400 }));
        }
      });
      req.on('error', reject);
    });
  }

  private json(res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  }

  private fail(res: ServerResponse, err: unknown): void {
    if (res.headersSent) return void res.end();
    const status = (err as { status?: number }).status;
    if (err instanceof z.ZodError) return this.json(res, 400, { ok: false, code: 'BAD_REQUEST', message: err.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') });
    if (status) return this.json(res, status, { ok: false, code: 'BAD_REQUEST', message: (err as Error).message });
    const e = toP2PError(err);
    const http = e.code === 'UNKNOWN_PEER' || e.code === 'NOT_FOUND' ? 404 : e.code === 'BAD_REQUEST' ? 400 : e.code === 'TIMEOUT' ? 504 : 502;
    if (e.code === 'INTERNAL') this.log.error('request failed', { err: e.message });
    this.json(res, http, { ok: false, code: e.code, message: e.message });
  }
}
