// The files a peer can serve: everything under DIR/shared/ (recursively) and its finished
// downloads in DIR/downloads/. Hashes are cached in DIR/.p2p/hash-cache.json by path+size+mtime
// so a restart does not rehash unchanged files; `scan()` picks up added, changed and removed files.
import { readFile, readdir, realpath, stat } from 'node:fs/promises';
import { writeFileAtomic } from './fence.js';
import { join, relative, sep } from 'node:path';
import type { Logger } from 'winston';
import type { FileMeta } from '../protocol/messages.js';
import { chooseChunkSize, fileIdOf, hashFile, type Manifest } from './manifest.js';
import { HASH_CACHE_VERSION, manifestOfEntry, parseHashCache, type HashCacheEntry } from './hash-cache.js';

/** One file the peer can serve. */
export interface LibraryFile {
  fileId: string;
  name: string;
  path: string;
  origin: 'shared' | 'downloads';
  manifest: Manifest;
  size: number;
  mtimeMs: number;
}

export interface LibraryOptions {
  dir: string;
  minChunkSize: number;
  maxChunks: number;
  /** files this size or larger get chunks twice minChunkSize (default 1 GiB; 0: never) */
  largeFileSize?: number;
  /** follow symlinks in shared/ that point outside it (off by default) */
  followExternalSymlinks?: boolean;
}

/** What a scan changed, for the announce that follows it. */
export interface ScanChanges {
  added: LibraryFile[];
  removed: LibraryFile[];
}

type CacheEntry = HashCacheEntry;
const CACHE_VERSION = HASH_CACHE_VERSION;
/** a file modified this recently may still be being written: wait for the next scan */
const SETTLE_MS = 1000;

export class Library {
  private readonly byPath = new Map<string, LibraryFile>();
  private readonly byId = new Map<string, LibraryFile[]>();
  private cache = new Map<string, CacheEntry>();
  private cacheDirty = false;
  private scanning: Promise<ScanChanges> | undefined;
  readonly sharedDir: string;
  readonly downloadsDir: string;
  private readonly cacheFile: string;

  constructor(
    private readonly components: { logger: Logger; now?: () => number },
    private readonly options: LibraryOptions,
  ) {
    this.sharedDir = join(options.dir, 'shared');
    this.downloadsDir = join(options.dir, 'downloads');
    this.cacheFile = join(options.dir, '.p2p', 'hash-cache.json');
  }

  /** Load the hash cache (a missing or corrupt cache, or a corrupt entry, just means rehashing). */
  async load(): Promise<void> {
    try {
      this.cache = parseHashCache(JSON.parse(await readFile(this.cacheFile, 'utf8')), this.components.logger);
    } catch {
      this.cache = new Map();
    }
  }

  /** Every file, sorted by name. */
  files(): LibraryFile[] {
    return [...this.byPath.values()].sort((a, b) => a.name.localeCompare(b.name) || a.path.localeCompare(b.path));
  }

  get(fileId: string): LibraryFile | undefined {
    return this.byId.get(fileId)?.[0];
  }

  findByName(name: string): LibraryFile[] {
    return this.files().filter((f) => f.name === name);
  }

  count(): number {
    return this.byPath.size;
  }

  /** Announceable metadata of every distinct fileId. */
  metas(): FileMeta[] {
    return [...this.byId.values()].map((list) => toMeta(list[0]!));
  }

  /** Walk shared/ and downloads/, hash what is new or changed, drop what is gone. */
  scan(opts: { settle?: boolean } = {}): Promise<ScanChanges> {
    // one scan at a time; a caller during a scan gets that scan's result
    this.scanning ??= this.doScan(opts.settle ?? true).finally(() => {
      this.scanning = undefined;
    });
    return this.scanning;
  }

  /** Register a finished download without rehashing it. */
  async addDownloaded(path: string, manifest: Manifest, name: string): Promise<LibraryFile> {
    const st = await stat(path);
    const file: LibraryFile = { fileId: fileIdOf(manifest), name, path, origin: 'downloads', manifest, size: st.size, mtimeMs: st.mtimeMs };
    this.put(file);
    this.cache.set(this.cacheKey(path), { size: st.size, mtimeMs: st.mtimeMs, chunkSize: manifest.chunkSize, hashes: hashesToHex(manifest) });
    this.cacheDirty = true;
    await this.saveCache();
    return file;
  }

  private async doScan(settle: boolean): Promise<ScanChanges> {
    const log = this.components.logger;
    const now = this.components.now?.() ?? Date.now();
    const seen = new Set<string>();
    const added: LibraryFile[] = [];
    const candidates = [
      ...(await this.walk(this.sharedDir, true)).map((p) => ({ path: p, origin: 'shared' as const })),
      ...(await this.walk(this.downloadsDir, false)).map((p) => ({ path: p, origin: 'downloads' as const })),
    ];
    for (const { path, origin } of candidates) {
      let st;
      try {
        st = await stat(path);
      } catch {
        continue;
      }
      if (!st.isFile()) continue;
      seen.add(path);
      const known = this.byPath.get(path);
      if (known && known.size === st.size && known.mtimeMs === st.mtimeMs) continue;
      if (known) this.remove(known);
      const key = this.cacheKey(path);
      const cached = this.cache.get(key);
      let manifest: Manifest | undefined;
      const chunkSize = chooseChunkSize(st.size, this.options);
      // a shared file's id follows the chunk settings in force (hashes cached under others are
      // stale); a download keeps the chunk size of the swarm it came from
      if (cached && cached.size === st.size && cached.mtimeMs === st.mtimeMs && (origin === 'downloads' || cached.chunkSize === chunkSize)) {
        manifest = manifestOfEntry(cached);
      } else {
        if (settle && now - st.mtimeMs < SETTLE_MS) {
          seen.delete(path); // not yet: it may still be being written
          continue;
        }
        try {
          const started = Date.now();
          manifest = await hashFile(path, chunkSize);
          const after = await stat(path);
          if (after.size !== st.size || after.mtimeMs !== st.mtimeMs) {
            seen.delete(path);
            continue; // changed under us: next scan
          }
          log.info('file hashed', { path: relative(this.options.dir, path), bytes: st.size, ms: Date.now() - started });
        } catch (err) {
          log.warn('cannot hash file', { path, err: (err as Error).message });
          continue;
        }
        this.cache.set(key, { size: st.size, mtimeMs: st.mtimeMs, chunkSize, hashes: hashesToHex(manifest) });
        this.cacheDirty = true;
      }
      const name = path.split(sep).pop()!;
      const file: LibraryFile = { fileId: fileIdOf(manifest), name, path, origin, manifest, size: st.size, mtimeMs: st.mtimeMs };
      const isNewId = !this.byId.has(file.fileId);
      this.put(file);
      if (isNewId) added.push(file);
    }
    const removed: LibraryFile[] = [];
    for (const file of [...this.byPath.values()]) {
      if (!seen.has(file.path)) {
        this.remove(file);
        if (!this.byId.has(file.fileId)) removed.push(file);
        this.cache.delete(this.cacheKey(file.path));
        this.cacheDirty = true;
      }
    }
    await this.saveCache();
    return { added, removed };
  }

  /** Regular files under root; shared/ recursively, downloads/ top level only (chunks/ is temp). */
  private async walk(root: string, recursive: boolean): Promise<string[]> {
    const out: string[] = [];
    let realRoot: string;
    try {
      realRoot = await realpath(root);
    } catch {
      return out;
    }
    const visit = async (dir: string, depth: number): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        const p = join(dir, e.name);
        if (e.name.startsWith('.')) continue; // hidden and temp files
        if (e.isSymbolicLink()) {
          if (!(await this.symlinkAllowed(p, realRoot))) continue;
          const st = await stat(p).catch(() => undefined);
          if (st?.isFile()) out.push(p);
          continue;
        }
        if (e.isDirectory()) {
          if (recursive && depth < 32) await visit(p, depth + 1);
        } else if (e.isFile()) out.push(p);
      }
    };
    await visit(root, 0);
    return out;
  }

  private async symlinkAllowed(path: string, realRoot: string): Promise<boolean> {
    if (this.options.followExternalSymlinks) return true;
    try {
      const target = await realpath(path);
      const ok = target === realRoot || target.startsWith(realRoot + sep);
      if (!ok) this.components.logger.debug('symlink outside the folder not shared', { path });
      return ok;
    } catch {
      return false;
    }
  }

  private put(file: LibraryFile): void {
    this.byPath.set(file.path, file);
    const list = this.byId.get(file.fileId) ?? [];
    list.push(file);
    this.byId.set(file.fileId, list);
  }

  private remove(file: LibraryFile): void {
    this.byPath.delete(file.path);
    const list = (this.byId.get(file.fileId) ?? []).filter((f) => f.path !== file.path);
    if (list.length) this.byId.set(file.fileId, list);
    else this.byId.delete(file.fileId);
  }

  private cacheKey(path: string): string {
    return relative(this.options.dir, path);
  }

  private async saveCache(): Promise<void> {
    if (!this.cacheDirty) return;
    this.cacheDirty = false;
    try {
      await writeFileAtomic(this.cacheFile, JSON.stringify({ version: CACHE_VERSION, entries: Object.fromEntries(this.cache) }));
    } catch (err) {
      this.components.logger.warn('cannot save hash cache', { err: (err as Error).message });
    }
  }
}

export function toMeta(f: LibraryFile): FileMeta {
  return {
    fileId: f.fileId,
    name: f.name.slice(0, 255),
    size: f.size,
    chunkSize: f.manifest.chunkSize,
    chunkCount: f.manifest.hashes.length,
  };
}

function hashesToHex(m: Manifest): string {
  return Buffer.concat(m.hashes).toString('hex');
}


