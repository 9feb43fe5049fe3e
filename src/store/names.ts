// Names from the network become file names on this machine. A name this machine can store is
// stored as it is (`CON`, `aux.c`, `a\b` are ordinary names on Linux). A path is reduced to its
// last component (a name never picks a directory). A character this machine cannot store, or one
// that would be unsafe to show (control characters), is replaced by `_`, never dropped. A name
// that cannot be made storable fails at once with UNSAFE_NAME (a local error: never retried).
import { UnsafeNameError } from '../errors.js';

const WINDOWS_RESERVED = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³]|conin\$|conout\$)(\..*)?$/i;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/g;
// eslint-disable-next-line no-control-regex
const WINDOWS_FORBIDDEN = /[<>:"|?*\u0000-\u001f]/g;
export const MAX_NAME_BYTES = 255;

/** The rules of the machine that stores the file (the current one unless a test says otherwise). */
export type NamePlatform = 'posix' | 'windows';
const HERE: NamePlatform = process.platform === 'win32' ? 'windows' : 'posix';

/**
 * The file name to store `name` under on `platform`: its last path component (`/`, and `\` on
 * Windows, separate components), control and forbidden characters replaced by `_`, on Windows
 * reserved device names and trailing dots/spaces made safe by appending `_`. Throws
 * UnsafeNameError for a name with nothing usable left (empty, `.`, `..`, dots only) or longer
 * than 255 UTF-8 bytes.
 */
export function safeBaseName(name: string, platform: NamePlatform = HERE): string {
  if (typeof name !== 'string') throw new UnsafeNameError('name is not a string');
  const separators = platform === 'windows' ? /[\\/]+/ : /\/+/;
  const parts = name.normalize('NFC').split(separators);
  let base = parts[parts.length - 1] ?? '';
  base = base.replace(platform === 'windows' ? WINDOWS_FORBIDDEN : CONTROL, '_');
  if (base === '' || /^\.+$/.test(base)) throw new UnsafeNameError(`unusable file name ${JSON.stringify(shown(name))}`);
  if (platform === 'windows') {
    base = base.replace(/[. ]+$/, (tail) => `${tail.replace(/[. ]/g, '_')}`);
    const m = WINDOWS_RESERVED.exec(base);
    if (m) base = `${m[1]}_${base.slice(m[1]!.length)}`;
  }
  if (Buffer.byteLength(base, 'utf8') > MAX_NAME_BYTES) throw new UnsafeNameError(`file name longer than ${MAX_NAME_BYTES} bytes: ${JSON.stringify(shown(base))}`);
  return base;
}

/** At most 80 characters of a name, for messages. */
function shown(name: string): string {
  return name.replace(CONTROL, '_').slice(0, 80);
}

/** `report.pdf` → `report (1).pdf` — the first free variant per `exists`. */
export function uniqueName(base: string, exists: (candidate: string) => boolean): string {
  if (!exists(base)) return base;
  const dot = base.lastIndexOf('.');
  const stem = dot > 0 ? base.slice(0, dot) : base;
  const ext = dot > 0 ? base.slice(dot) : '';
  for (let i = 1; i < 10_000; i++) {
    const candidate = `${stem} (${i})${ext}`;
    if (Buffer.byteLength(candidate, 'utf8') > MAX_NAME_BYTES) throw new UnsafeNameError(`no free name for ${JSON.stringify(shown(base))} within ${MAX_NAME_BYTES} bytes`);
    if (!exists(candidate)) return candidate;
  }
  throw new UnsafeNameError(`no free name for ${JSON.stringify(shown(base))}`);
}
