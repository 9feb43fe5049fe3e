// The memory store's key bindings on disk (DATA/bindings.json), so a restarted tracker still
// knows which key owns which peer id and a squatter cannot be bound first. Written atomically
// (temp file + rename), at most once per `flushMs` while bindings are added, and on stop. Read
// back as a boundary: entries that do not match the schema are skipped with a warning.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Logger } from 'winston';
import { z } from 'zod';
import type { IdentityBindings } from '../identity.js';
import { PeerId } from '../protocol/messages.js';

export const BINDINGS_FILE = 'bindings.json';

const Entry = z.tuple([PeerId, z.string().regex(/^[A-Za-z0-9_-]{43}$/), z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER)]);
const FileShape = z.object({ v: z.literal(1), bindings: z.array(z.unknown()) });

export class BindingsFile {
  readonly path: string;
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  private dirty = false;
  private loaded = false;

  constructor(
    dataDir: string,
    private readonly bindings: IdentityBindings,
    private readonly log: Logger | undefined,
    private readonly flushMs = 1000,
  ) {
    this.path = join(dataDir, BINDINGS_FILE);
  }

  /** Load what was saved; a missing file is a first start. Returns how many were loaded. */
  async load(): Promise<number> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      this.loaded = true;
      return 0;
    }
    let doc: z.infer<typeof FileShape>;
    try {
      doc = FileShape.parse(JSON.parse(text));
    } catch (err) {
      // never start over silently: a squatter would be bound first. Keep the file for a human.
      throw new Error(`${this.path} is not a bindings file (${(err as Error).message}); move it away to start with no bindings`, { cause: err });
    }
    let skipped = 0;
    for (const raw of doc.bindings) {
      const e = Entry.safeParse(raw);
      if (e.success) this.bindings.restore(e.data[0], e.data[1], e.data[2]);
      else skipped++;
    }
    if (skipped) this.log?.warn('bindings file: bad entries skipped', { file: this.path, skipped });
    this.loaded = true;
    return doc.bindings.length - skipped;
  }

  /** A binding was added or changed: save soon. */
  changed(): void {
    this.dirty = true;
    this.timer ??= setTimeout(() => void this.flush(), this.flushMs);
    this.timer.unref?.();
  }

  /**
   * Save now if a binding was added; `always` (stop) saves anyway, so the newest timestamps seen
   * (the replay guard) are kept too.
   */
  async flush(always = false): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.dirty && !(always && this.loaded)) return this.writing;
    this.dirty = false;
    const text = JSON.stringify({ v: 1, bindings: this.bindings.entries() });
    this.writing = this.writing.then(async () => {
      try {
        await mkdir(dirname(this.path), { recursive: true });
        const tmp = `${this.path}.${process.pid}.tmp`;
        await writeFile(tmp, text, { mode: 0o600 });
        await rename(tmp, this.path);
      } catch (err) {
        this.dirty = true;
        this.log?.error('cannot save key bindings', { file: this.path, err: (err as Error).message });
      }
    });
    return this.writing;
  }
}
