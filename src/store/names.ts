// Names from the network become safe base names before they touch disk, or are refused.
import { UnsafeNameError } from '../errors.js';

const RESERVED = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$/i;
const MAX_NAME_BYTES = 255;

/**
 * Reduce a name to a safe base name: no directories, no `..`, no absolute or drive paths, no NUL
 * or control characters, not reserved, at most 255 UTF-8 bytes. Throws UnsafeNameError when
 * nothing usable is left.
 */
export function safeBaseName(name: string): string {
  if (typeof name !== 'string') throw new UnsafeNameError('name is not a string');
  if (name.includes('\0')) throw new UnsafeNameError('name contains NUL');
  // keep only the last path component, whatever the separator
  const parts = name.split(/[\\/]+/);
  let base = (parts[parts.length - 1] ?? '').normalize('NFC');
  // drive prefix such as C:
  base = base.replace(/^[A-Za-z]:/, '');
  // eslint-disable-next-line no-control-regex
  base = base.replace(/[\u0000-\u001f\u007f]/g, '').trim();
  if (base === '' || base === '.' || base === '..' || /^\.+$/.test(base)) throw new UnsafeNameError(`unusable file name ${JSON.stringify(name.slice(0, 80))}`);
  if (RESERVED.test(base)) throw new UnsafeNameError(`reserved file name ${JSON.stringify(base)}`);
  if (Buffer.byteLength(base, 'utf8') > MAX_NAME_BYTES) throw new UnsafeNameError('file name longer than 255 bytes');
  return base;
}

/** `report.pdf` → `report (1).pdf` — the first free variant per `exists`. */
export function uniqueName(base: string, exists: (candidate: string) => boolean): string {
  if (!exists(base)) return base;
  const dot = base.lastIndexOf('.');
  const stem = dot > 0 ? base.slice(0, dot) : base;
  const ext = dot > 0 ? base.slice(dot) : '';
  for (let i = 1; i < 10_000; i++) {
    const candidate = `${stem} (${i})${ext}`;
    if (!exists(candidate)) return candidate;
  }
  throw new UnsafeNameError(`no free name for ${base}`);
}
