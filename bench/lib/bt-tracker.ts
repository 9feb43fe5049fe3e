// A BitTorrent tracker on loopback for the external-tool rows: Debian's opentracker (a
// whitelist build: our info hashes go in its whitelist), or, when it is missing or will not
// start, a tiny HTTP tracker in this process (announce with compact peers, and scrape).
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, get as httpGet } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { spawnProc } from './procs.js';
import type { Scope } from './scope.js';

/** A free TCP port on 127.0.0.1 (the OS picks it; a tiny race before the tool binds it). */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createTcpServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => res(port));
    });
  });
}

export interface BtTracker {
  kind: 'opentracker' | 'node';
  /** seeders the tracker knows for this info hash (scrape's `complete`) */
  seeders(infoHashHex: string): Promise<number>;
}

function percentEncode(hex: string): string {
  return hex.replace(/../g, (b) => `%${b}`);
}

function fetchText(url: string): Promise<string> {
  return new Promise((res, rej) => {
    const req = httpGet(url, { timeout: 2000 }, (r) => {
      let body = '';
      r.setEncoding('latin1');
      r.on('data', (d: string) => (body += d));
      r.on('end', () => res(body));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', rej);
  });
}

async function scrapeSeeders(port: number, hash: string): Promise<number> {
  const body = await fetchText(`http://127.0.0.1:${port}/scrape?info_hash=${percentEncode(hash)}`);
  const m = /8:completei(\d+)e/.exec(body);
  return m ? Number(m[1]) : 0;
}

/** Start a tracker on 127.0.0.1:`port` that accepts `hashes`; opentracker first, else our own. */
export async function startBtTracker(scope: Scope, port: number, hashes: string[], log: (m: string) => void): Promise<BtTracker> {
  if (existsSync('/usr/bin/opentracker')) {
    // opentracker drops to user nobody: its whitelist must be readable by anyone
    const open = await mkdtemp(join(tmpdir(), 'p2p-bench-opentracker-'));
    scope.defer(() => rm(open, { recursive: true, force: true }));
    await chmod(open, 0o755);
    const whitelist = join(open, 'whitelist.txt');
    await writeFile(whitelist, hashes.join('\n') + '\n', { mode: 0o644 });
    const proc = spawnProc(scope, '/usr/bin/opentracker', ['-i', '127.0.0.1', '-p', String(port), '-P', String(port), '-w', whitelist], {
      cwd: open,
      label: 'opentracker',
    });
    for (let i = 0; i < 50; i++) {
      if (proc.lines.some((l) => /can't open accesslist/i.test(l))) break;
      try {
        await scrapeSeeders(port, hashes[0]!);
        return { kind: 'opentracker', seeders: (h) => scrapeSeeders(port, h) };
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    log(`opentracker did not start (${proc.tail(3).replace(/\n/g, ' | ')}); using the bench's own HTTP tracker`);
    await proc.stop();
  }
  await startNodeTracker(scope, port);
  return { kind: 'node', seeders: (h) => scrapeSeeders(port, h) };
}

interface PeerEntry {
  port: number;
  left: number;
}

/** Percent-decode a query value into raw bytes (info_hash is binary). */
function rawBytes(value: string): Buffer {
  const out: number[] = [];
  for (let i = 0; i < value.length; i++) {
    if (value[i] === '%' && i + 2 < value.length + 1) {
      out.push(parseInt(value.slice(i + 1, i + 3), 16));
      i += 2;
    } else out.push(value.charCodeAt(i) & 0xff);
  }
  return Buffer.from(out);
}

function bstr(b: Buffer | string): Buffer {
  const buf = typeof b === 'string' ? Buffer.from(b, 'latin1') : b;
  return Buffer.concat([Buffer.from(`${buf.length}:`), buf]);
}

/** The fallback tracker: every peer is 127.0.0.1, peers listed compact, scrape for readiness. */
function startNodeTracker(scope: Scope, port: number): Promise<void> {
  const swarms = new Map<string, Map<string, PeerEntry>>();
  const server = createHttpServer((req, res) => {
    const [path, query = ''] = (req.url ?? '').split('?');
    const params = new Map(query.split('&').map((kv) => [kv.split('=')[0]!, kv.slice(kv.indexOf('=') + 1)] as const));
    const hash = rawBytes(params.get('info_hash') ?? '');
    if (hash.length !== 20) {
      res.end('d14:failure reason12:bad info hashe');
      return;
    }
    const key = hash.toString('hex');
    const peers = swarms.get(key) ?? new Map<string, PeerEntry>();
    swarms.set(key, peers);
    const complete = [...peers.values()].filter((p) => p.left === 0).length;
    if (path === '/scrape') {
      res.end(Buffer.concat([Buffer.from('d5:filesd'), bstr(hash), Buffer.from(`d8:completei${complete}e10:downloadedi0e10:incompletei${peers.size - complete}eeee`)]));
      return;
    }
    const peerPort = Number(params.get('port'));
    const peerId = rawBytes(params.get('peer_id') ?? '').toString('hex');
    if (params.get('event') === 'stopped') peers.delete(peerId);
    else if (peerPort > 0 && peerPort < 65536) peers.set(peerId, { port: peerPort, left: Number(params.get('left') ?? 1) });
    const compact = Buffer.concat(
      [...peers.entries()].filter(([id]) => id !== peerId).map(([, p]) => Buffer.from([127, 0, 0, 1, p.port >> 8, p.port & 0xff])),
    );
    res.end(Buffer.concat([Buffer.from(`d8:intervali5e12:min intervali1e5:peers`), bstr(compact), Buffer.from('e')]));
  });
  scope.defer(
    () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  );
  return new Promise((res, rej) => {
    server.once('error', rej);
    server.listen(port, '127.0.0.1', () => res());
  });
}
