// The hash cache (DIR/.p2p/hash-cache.json) read back entry by entry: an entry that is not what we
// write (wrong types, a chunk size out of range, hashes that do not cover the size) is dropped
// with a warning and its file is simply hashed again. A corrupt entry never stops the peer.
import type { Logger } from 'winston';
import { z } from 'zod';
import { chunkCount, MAX_CHUNK_SIZE, type Manifest } from './manifest.js';

export const HASH_CACHE_VERSION = 1;
/** Entries read at most (far above any real library): a huge file cannot make us build a huge map. */
const MAX_ENTRIES = 1_000_000;

const Entry = z.object({
  size: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  mtimeMs: z.number().finite(),
  chunkSize: z.number().int().min(1).max(MAX_CHUNK_SIZE),
  hashes: z.string().regex(/^(?:[0-9a-f]{64})*$/),
});
export type HashCacheEntry = z.infer<typeof Entry>;

/** The valid entries of a parsed cache file (an empty map for anything not a cache of ours). */
export function parseHashCache(raw: unknown, log: Logger): Map<string, HashCacheEntry> {
  const out = new Map<string, HashCacheEntry>();
  if (!raw || typeof raw !== 'object') return out;
  const { version, entries } = raw as { version?: unknown; entries?: unknown };
  if (version !== HASH_CACHE_VERSION || !entries || typeof entries !== 'object' || Array.isArray(entries)) return out;
  let dropped = 0;
  for (const [key, value] of Object.entries(entries).slice(0, MAX_ENTRIES)) {
    const parsed = Entry.safeParse(value);
    if (parsed.success && parsed.data.hashes.length === 64 * chunkCount(parsed.data.size, parsed.data.chunkSize)) out.set(key, parsed.data);
    else dropped++;
  }
  if (dropped > 0) log.warn('hash cache entries dropped, their files will be hashed again', { dropped, kept: out.size });
  return out;
}

/** The manifest a (valid) cache entry stands for. */
export function manifestOfEntry(entry: HashCacheEntry): Manifest {
  const all = Buffer.from(entry.hashes, 'hex');
  const hashes: Buffer[] = [];
  for (let i = 0; i < all.length; i += 32) hashes.push(all.subarray(i, i + 32));
  return { size: entry.size, chunkSize: entry.chunkSize, hashes };
}
