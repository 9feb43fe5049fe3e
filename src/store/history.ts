// Persisted download intents and their outcome (DIR/.p2p/downloads.json): unfinished ones are
// resumed when the peer starts again; finished ones stay listed by `p2p status` (the last 200).
// Read back record by record: one bad record is skipped with a warning, the others are kept.
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from './fence.js';
import { z } from 'zod';
import type { Logger } from 'winston';
import { DownloadInfo } from '../protocol/messages.js';

const StoredSchema = DownloadInfo.extend({ maxRetries: z.number().int().nonnegative().optional() });
export type StoredDownload = z.infer<typeof StoredSchema>;

/** Records read at most (we write at most 200 finished + the running ones). */
const MAX_RECORDS = 100_000;

const KEEP_FINISHED = 200;

/** Reads and writes the download history file; writes are atomic (tmp + rename) and serialised. */
export class DownloadHistory {
  private writing: Promise<void> = Promise.resolve();
  private pending = false;

  constructor(
    private readonly file: string,
    private readonly log?: Logger,
  ) {}

  /**
   * The stored downloads, record by record: one that fails its schema is skipped with a warning
   * (never the whole file); an unreadable or foreign file gives none.
   */
  async load(): Promise<StoredDownload[]> {
    let raw: unknown;
    try {
      raw = JSON.parse(await readFile(this.file, 'utf8'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.log?.warn('download history unreadable, starting empty', { err: (err as Error).message });
      return [];
    }
    const { version, downloads } = (raw ?? {}) as { version?: unknown; downloads?: unknown };
    if (version !== 1 || !Array.isArray(downloads)) {
      this.log?.warn('download history has an unknown format, starting empty');
      return [];
    }
    const out: StoredDownload[] = [];
    for (const [i, record] of downloads.slice(0, MAX_RECORDS).entries()) {
      const parsed = StoredSchema.safeParse(record);
      if (parsed.success) out.push(parsed.data);
      else {
        const id = (record as { downloadId?: unknown } | null)?.downloadId;
        this.log?.warn('download record skipped: invalid', { index: i, downloadId: typeof id === 'string' ? id.slice(0, 64) : undefined, err: parsed.error.issues[0]?.message });
      }
    }
    return out;
  }

  /** Save a snapshot; coalesces bursts (the latest snapshot wins). */
  save(downloads: () => StoredDownload[]): Promise<void> {
    if (this.pending) return this.writing;
    this.pending = true;
    this.writing = this.writing.then(async () => {
      this.pending = false;
      const all = downloads();
      const running = all.filter((d) => d.status === 'running');
      const finished = all.filter((d) => d.status !== 'running').slice(-KEEP_FINISHED);
      await writeFileAtomic(this.file, JSON.stringify({ version: 1, downloads: [...finished, ...running] }));
    });
    return this.writing.catch(() => undefined);
  }
}
