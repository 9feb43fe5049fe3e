// A download's trace file, DIR/.p2p/traces/<downloadId>.jsonl (one TraceEntry per line): written
// by TraceLog while the download runs, read by readTrace for `p2p trace` and for a resume.
import { constants as fsConstants, createWriteStream, openSync, type WriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TraceEntry } from '../protocol/messages.js';
import { checkFenceSync } from './fence.js';

/** Where the trace of `downloadId` lives under `tracesDir`. */
export function tracePath(tracesDir: string, downloadId: string): string {
  return join(tracesDir, `${downloadId}.jsonl`);
}

/** Appends entries to one download's trace file. */
export class TraceLog {
  private readonly stream: WriteStream;

  /** Opens (creates) the file now: a refused path throws here, before the download starts. */
  constructor(tracesDir: string, downloadId: string, onError: (err: Error) => void) {
    const path = tracePath(tracesDir, downloadId);
    // O_NOFOLLOW: a symlink planted in traces/ is refused, never written through
    checkFenceSync(path);
    const fd = openSync(path, fsConstants.O_WRONLY | fsConstants.O_APPEND | fsConstants.O_CREAT | fsConstants.O_NOFOLLOW, 0o644);
    this.stream = createWriteStream(path, { fd });
    this.stream.on('error', onError);
  }

  append(entry: TraceEntry): void {
    if (!this.stream.writableEnded) this.stream.write(JSON.stringify(entry) + '\n');
  }

  /** Flush and close (idempotent). */
  close(): Promise<void> {
    if (this.stream.writableEnded) return Promise.resolve();
    return new Promise((resolve) => this.stream.end(resolve));
  }
}

export interface TraceFile {
  entries: TraceEntry[];
  /** entries left out at the start (only the last `max` are returned) */
  truncated: number;
  finished: boolean;
  lastSeq: number;
  /** valid entries in the whole file */
  total: number;
}

/**
 * Read `max` valid entries of a download's trace from entry `from` (default: the last `max`); a
 * torn last line (crash mid-write) is skipped. `truncated` counts the entries before the first one.
 */
export async function readTrace(tracesDir: string, downloadId: string, max: number, from?: number): Promise<TraceFile> {
  let text = '';
  try {
    text = await readFile(tracePath(tracesDir, downloadId), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const entries: TraceEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const parsed = TraceEntry.safeParse(JSON.parse(line));
      if (parsed.success) entries.push(parsed.data);
    } catch {
      // torn line
    }
  }
  const last = entries[entries.length - 1];
  const start = from ?? Math.max(0, entries.length - max);
  return {
    entries: entries.slice(start, start + max),
    truncated: Math.min(start, entries.length),
    total: entries.length,
    finished: last?.final ?? false,
    lastSeq: last?.seq ?? -1,
  };
}
