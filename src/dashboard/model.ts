// What the dashboard knows of the swarm, built only from validated bus messages: files (tracker
// list + lookups), who holds which chunks (availability messages; tracker sources hold the whole
// file), peers (heartbeats, sources, status replies) with their rates over the last minutes,
// downloads (status + progress) and their live trace entries. `view()` is the page's JSON.
import { bitfieldBytes, setBit, hasBit } from '../protocol/bitfield.js';
import type { ChunkAvailability, DownloadInfo, Endpoint, ListEntry, StatusReply, TraceEntry } from '../protocol/messages.js';

/** Samples kept per peer (one per status poll) and traces kept per download. */
export const RATE_SAMPLES = 300;
const MAX_TRACE = 2000;
const MAX_DOWNLOADS = 300;

interface Holding {
  complete: boolean;
  bits: Uint8Array;
  seenAt: number;
}

interface FileEntry {
  meta: ListEntry;
  /** tracker sources: whole-file holders */
  sources: Set<string>;
  holdings: Map<string, Holding>;
}

interface PeerEntry {
  peerId: string;
  endpoint?: Endpoint;
  lastSeen: number;
  online: boolean;
  status?: StatusReply;
  served?: { at: number; bytes: number };
  /** [time ms, upload B/s, download B/s] */
  rates: Array<[number, number, number]>;
}

export interface DownloadView extends Omit<DownloadInfo, 'path'> {
  peerId: string;
}

export class SwarmModel {
  private readonly files = new Map<string, FileEntry>();
  private readonly peers = new Map<string, PeerEntry>();
  private readonly downloads = new Map<string, DownloadView>();
  private readonly traces = new Map<string, TraceEntry[]>();
  /** recent [time, bytes] of each running download: peers report rates per short interval, we smooth */
  private readonly byteSamples = new Map<string, Array<[number, number]>>();
  /** bumped on every change; the server pushes when it moved */
  version = 0;

  constructor(private readonly now: () => number = Date.now) {}

  /** The tracker's full list: files gone from it are dropped. */
  setFiles(list: ListEntry[]): string[] {
    const added: string[] = [];
    const keep = new Set(list.map((f) => f.fileId));
    for (const id of [...this.files.keys()]) if (!keep.has(id)) this.files.delete(id);
    for (const meta of list) {
      const f = this.files.get(meta.fileId);
      if (f) {
        if (f.meta.sources !== meta.sources || f.meta.name !== meta.name) this.version++;
        f.meta = meta;
      } else {
        this.files.set(meta.fileId, { meta, sources: new Set(), holdings: new Map() });
        added.push(meta.fileId);
      }
    }
    if (added.length || list.length !== keep.size) this.version++;
    return added;
  }

  fileIds(): string[] {
    return [...this.files.keys()];
  }

  setSources(fileId: string, sources: Array<{ peerId: string; endpoint: Endpoint }>): void {
    const f = this.files.get(fileId);
    if (!f) return;
    const next = new Set(sources.map((s) => s.peerId));
    if ([...next].join() !== [...f.sources].join()) this.version++;
    f.sources = next;
    for (const s of sources) this.seePeer(s.peerId, s.endpoint, false);
  }

  /** A peer is alive (heartbeat, source, progress); `strong` when it answered us itself. */
  seePeer(peerId: string, endpoint?: Endpoint, strong = true): void {
    let p = this.peers.get(peerId);
    if (!p) {
      p = { peerId, lastSeen: this.now(), online: true, rates: [] };
      this.peers.set(peerId, p);
      this.version++;
    }
    if (endpoint) p.endpoint = endpoint;
    if (strong || !p.online) {
      if (!p.online) this.version++;
      p.lastSeen = this.now();
      p.online = true;
    }
  }

  peerIds(): string[] {
    return [...this.peers.keys()];
  }

  /** A peer left (bye) or stopped answering for long: forget it and what it held. */
  dropPeer(peerId: string): void {
    if (!this.peers.delete(peerId)) return;
    for (const f of this.files.values()) f.holdings.delete(peerId);
    this.version++;
  }

  /** A status request failed: offline now, forgotten after `forgetMs`. */
  peerSilent(peerId: string, forgetMs: number): void {
    const p = this.peers.get(peerId);
    if (!p) return;
    if (p.online) this.version++;
    p.online = false;
    if (this.now() - p.lastSeen > forgetMs) this.dropPeer(peerId);
  }

  onStatus(reply: StatusReply): void {
    const now = this.now();
    this.seePeer(reply.peerId, reply.endpoint);
    const p = this.peers.get(reply.peerId)!;
    for (const d of reply.downloads) this.putDownload(reply.peerId, d);
    const up = p.served && now > p.served.at ? Math.max(0, ((reply.served.bytes - p.served.bytes) * 1000) / (now - p.served.at)) : 0;
    const down = reply.downloads
      .filter((d) => d.status === 'running')
      .reduce((sum, d) => sum + (this.downloads.get(`${reply.peerId}/${d.downloadId}`)?.rateBps ?? d.rateBps), 0);
    p.served = { at: now, bytes: reply.served.bytes };
    p.rates.push([now, Math.round(up), Math.round(down)]);
    if (p.rates.length > RATE_SAMPLES) p.rates.splice(0, p.rates.length - RATE_SAMPLES);
    p.status = reply;
    this.version++;
  }

  onProgress(peerId: string, info: DownloadInfo): void {
    this.seePeer(peerId);
    this.putDownload(peerId, info);
    this.version++;
  }

  private putDownload(peerId: string, info: DownloadInfo): void {
    const key = `${peerId}/${info.downloadId}`;
    const known = this.downloads.get(key);
    // a late "running" message never undoes a final state
    if (known && known.status !== 'running' && info.status === 'running') return;
    const { path: _path, ...rest } = info;
    this.downloads.set(key, { ...rest, peerId, rateBps: this.smoothedRate(key, info) });
    if (this.downloads.size > MAX_DOWNLOADS) {
      const oldest = [...this.downloads.entries()].filter(([, d]) => d.status !== 'running').sort((a, b) => a[1].startedAt - b[1].startedAt)[0];
      if (oldest) {
        this.downloads.delete(oldest[0]);
        this.traces.delete(oldest[0]);
        this.byteSamples.delete(oldest[0]);
      }
    }
  }

  /** Bytes per second over the last few seconds (the peer's own figure until we have that much). */
  private smoothedRate(key: string, info: DownloadInfo): number {
    if (info.status !== 'running') {
      this.byteSamples.delete(key);
      return info.rateBps;
    }
    const now = this.now();
    const samples = (this.byteSamples.get(key) ?? []).filter(([t]) => now - t <= 4000);
    samples.push([now, info.bytes]);
    this.byteSamples.set(key, samples);
    const [t0, b0] = samples[0]!;
    return now - t0 >= 1000 ? Math.max(0, Math.round(((info.bytes - b0) * 1000) / (now - t0))) : info.rateBps;
  }

  /** A live trace entry; returns false when it was already known. */
  onTrace(peerId: string, entry: TraceEntry): boolean {
    const key = `${peerId}/${entry.downloadId}`;
    const list = this.traces.get(key) ?? [];
    if (list.some((e) => e.seq === entry.seq)) return false;
    list.push(entry);
    list.sort((a, b) => a.seq - b.seq);
    if (list.length > MAX_TRACE) list.splice(0, list.length - MAX_TRACE);
    this.traces.set(key, list);
    return true;
  }

  trace(peerId: string, downloadId: string): TraceEntry[] {
    return this.traces.get(`${peerId}/${downloadId}`) ?? [];
  }

  onAvailability(m: ChunkAvailability): void {
    const f = this.files.get(m.fileId);
    if (!f || m.chunkCount !== f.meta.chunkCount) return;
    this.seePeer(m.peerId, m.endpoint, false);
    let h = f.holdings.get(m.peerId);
    if (!h) {
      h = { complete: false, bits: new Uint8Array(bitfieldBytes(m.chunkCount)), seenAt: this.now() };
      f.holdings.set(m.peerId, h);
    }
    h.seenAt = this.now();
    if (m.complete) h.complete = true;
    else if (m.bitfield) {
      h.complete = false;
      h.bits = new Uint8Array(m.bitfield);
    } else for (const [start, end] of m.gained ?? []) for (let i = start; i < end; i++) setBit(h.bits, i);
    this.version++;
  }

  /** Per-chunk holder counts of one file (capped at 255), and how many peers hold part of it. */
  counts(fileId: string): { counts: Uint8Array; holders: Array<{ peerId: string; chunks: number; complete: boolean }> } {
    const f = this.files.get(fileId);
    if (!f) return { counts: new Uint8Array(0), holders: [] };
    const n = f.meta.chunkCount;
    const counts = new Uint8Array(n);
    const holders: Array<{ peerId: string; chunks: number; complete: boolean }> = [];
    const ids = new Set([...f.sources, ...f.holdings.keys()]);
    for (const peerId of ids) {
      const h = f.holdings.get(peerId);
      const complete = f.sources.has(peerId) || h?.complete === true;
      let chunks = 0;
      for (let i = 0; i < n; i++) {
        if (complete || hasBit(h!.bits, i)) {
          counts[i] = Math.min(255, counts[i]! + 1);
          chunks++;
        }
      }
      if (chunks > 0) holders.push({ peerId, chunks, complete });
    }
    return { counts, holders };
  }

  /** The page's view of everything. */
  view(): Record<string, unknown> {
    const files = [...this.files.values()].map((f) => {
      const { counts, holders } = this.counts(f.meta.fileId);
      return { ...f.meta, holders, counts: Buffer.from(counts).toString('base64') };
    });
    files.sort((a, b) => a.name.localeCompare(b.name));
    const peers = [...this.peers.values()].map((p) => ({
      peerId: p.peerId,
      endpoint: p.endpoint ? `${p.endpoint.host}:${p.endpoint.port}` : '',
      online: p.online,
      files: (p.status?.shared ?? []).slice(0, 100).map((f) => ({ name: f.name, size: f.size, origin: f.origin })),
      fileCount: p.status?.shared.length ?? 0,
      running: (p.status?.downloads ?? []).filter((d) => d.status === 'running').length,
      served: p.status?.served ?? { chunks: 0, bytes: 0 },
      rates: p.rates.slice(-180),
    }));
    peers.sort((a, b) => a.peerId.localeCompare(b.peerId));
    const downloads = [...this.downloads.values()].sort((a, b) => b.startedAt - a.startedAt);
    return { now: this.now(), files, peers, downloads };
  }
}
