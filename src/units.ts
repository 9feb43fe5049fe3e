// Byte counts and rates as people type them: `20M`, `512K`, `1.5G`, `1048576` (binary multiples:
// K = 1024). Used by config values and CLI flags.

const MULTIPLIERS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };
const BYTES = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?(?:\/s)?\s*$/i;

/**
 * Parse `20M`, `512K`, `1.5G`, `100` (bytes), also `20MiB`, `20MB/s` (always binary multiples).
 * Returns undefined when the text is not such a number.
 */
export function parseBytes(text: string | number): number | undefined {
  if (typeof text === 'number') return Number.isFinite(text) && text >= 0 ? Math.floor(text) : undefined;
  const m = BYTES.exec(text);
  if (!m) return undefined;
  const value = Math.floor(Number(m[1]) * MULTIPLIERS[m[2]!.toLowerCase()]!);
  return Number.isSafeInteger(value) ? value : undefined;
}
