// A download's trace file, DIR/.p2p/traces/<downloadId>.jsonl (one TraceEntry per line): written
// by TraceLog while the download runs, read by readTrace for `p2p trace` and for a resume.
import { closeSync, constants as fsConstants, openSync, writeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TraceEntry } from '../protocol/messages.js';
import { checkFenceSync } from './fence.js';

/** Where the trace of `downloadId` lives under `tracesDir`. */
export function tracePath(tracesDir: string, downloadId: string): string {
  return join(tracesDir, `${downloadId}.jsonl`);
}

/** A trace file is closed after this long without an entry (reopened by the next one). */
export const TRACE_IDLE_MS = 2000;

/**
 * Appends entries to one download's trace file. The file is held open only while entries come
 * (issue 9, class 6): a download waiting to retry holds no descriptor, and close() lets go at
 * once, so a peer's open trace files never outnumber its downloads at work. Lines are small and
 * written synchronously, in order, to the page cache.
 */
export class TraceLog {
  private readonly path: string;
  private fd: number | undefined;
  private idle: NodeJS.Timeout | undefined;
  private closed = false;

  /** Opens (creates) the file now: a refused path throws here, before the download starts. */
  constructor(
    tracesDir: string,
    downloadId: string,
    private readonly onError: (err: Error) => void,
    private readonly idleMs = TRACE_IDLE_MS,
  ) {
    this.path = tracePath(tracesDir, downloadId);
    this.open();
  }

  /** O_NOFOLLOW and the fence checked at every open: a symlink planted in traces/ is never written through. */
  private open(): number {
    checkFenceSync(this.path);
    this.fd = openSync(this.path, fsConstants.O_WRONLY | fsConstants.O_APPEND | fsConstants.O_CREAT | fsConstants.O_NOFOLLOW, 0o644);
    this.armIdle();
    return this.fd;
  }

  private armIdle(): void {
    clearTimeout(this.idle);
    this.idle = setTimeout(() => this.release(), this.idleMs);
    this.idle.unref();
  }

  private release(): void {
    clearTimeout(this.idle);
    this.idle = undefined;
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    try {
      closeSync(fd);
    } catch (err) {
      this.onError(err as Error);
    }
  }

  append(entry: TraceEntry): void {
    if (this.closed) return;
    try {
      const fd = this.fd ?? this.open();
      writeSync(fd, JSON.stringify(entry) + '\n');
      this.armIdle();
    } catch (err) {
      this.onError(err as Error);
    }
  }

  /** Close (idempotent); later entries are dropped. */
  close(): Promise<void> {
    this.closed = true;
    this.release();
    return Promise.resolve();
  }

  /** Whether the file is held open now (for tests and the fd budget). */
  get isOpen(): boolean {
    return this.fd !== undefined;
  }
}

export interface TraceFile {
  entries: TraceEntry[];
  /** entries left out at the start (only the last `max` are returned) */
  truncated: number;
  finished: boolean;
  lastSeq: number;
  /** entries in the whole file */
  total: number;
  /** where the entries read stop (the next page's `from`) */
  end: number;
}

/** An entry of the file, or undefined for a torn or invalid line. */
function parseEntry(line: string): TraceEntry | undefined {
  try {
    const parsed = TraceEntry.safeParse(JSON.parse(line));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Read up to `max` entries of a download's trace from entry `from` (default: the last `max`),
 * stopping early once their lines pass `maxBytes` (at least one is read). Only the lines asked for
 * are parsed (a page of a long trace costs its page, not the file); a torn last line (crash
 * mid-write) is no entry, and an invalid line inside is skipped. `truncated` counts the entries
 * before the first one, `end` is where the next page starts.
 */
export async function readTrace(tracesDir: string, downloadId: string, max: number, from?: number, maxBytes = Infinity): Promise<TraceFile> {
  let text = '';
  try {
    text = await readFile(tracePath(tracesDir, downloadId), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const lines = text.split('\n').filter((line) => line.trim() !== '');
  let last: TraceEntry | undefined;
  let total = lines.length;
  while (total > 0 && !(last = parseEntry(lines[total - 1]!))) total--;
  const start = Math.min(from ?? Math.max(0, total - max), total);
  const entries: TraceEntry[] = [];
  let bytes = 0;
  let end = start;
  for (; end < total && end - start < max; end++) {
    bytes += lines[end]!.length + 1;
    if (bytes > maxBytes && end > start) break;
    const entry = parseEntry(lines[end]!);
    if (entry) entries.push(entry);
  }
  return { entries, truncated: start, total, end, finished: last?.final ?? false, lastSeq: last?.seq ?? -1 };
}
