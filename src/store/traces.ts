// Reads a download's trace file (DIR/.p2p/traces/<downloadId>.jsonl, one TraceEntry per line).
import { readFile } from 'node:fs/promises';
import { TraceEntry } from '../protocol/messages.js';

export interface TraceFile {
  entries: TraceEntry[];
  /** entries left out at the start (only the last `max` are returned) */
  truncated: number;
  finished: boolean;
  lastSeq: number;
}

/** Read the last `max` valid entries; a torn last line (crash mid-write) is skipped. */
export async function readTrace(path: string, max: number): Promise<TraceFile> {
  let text = '';
  try {
    text = await readFile(path, 'utf8');
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
  return {
    entries: entries.slice(-max),
    truncated: Math.max(0, entries.length - max),
    finished: last?.final ?? false,
    lastSeq: last?.seq ?? -1,
  };
}
