// Persisted download intents and their outcome (DIR/.p2p/downloads.json): unfinished ones are
// resumed when the peer starts again; finished ones stay listed by `p2p status` (the last 200).
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from './fence.js';
import { z } from 'zod';
import { DownloadInfo } from '../protocol/messages.js';

const FileSchema = z.object({
  version: z.literal(1),
  downloads: z.array(DownloadInfo.extend({ maxRetries: z.number().int().nonnegative().optional() })),
});

export type StoredDownload = z.infer<typeof FileSchema>['downloads'][number];

const KEEP_FINISHED = 200;

/** Reads and writes the download history file; writes are atomic (tmp + rename) and serialised. */
export class DownloadHistory {
  private writing: Promise<void> = Promise.resolve();
  private pending = false;

  constructor(private readonly file: string) {}

  async load(): Promise<StoredDownload[]> {
    try {
      const parsed = FileSchema.safeParse(JSON.parse(await readFile(this.file, 'utf8')));
      return parsed.success ? parsed.data.downloads : [];
    } catch {
      return [];
    }
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
