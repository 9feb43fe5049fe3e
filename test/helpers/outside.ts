// "Nothing written outside the peer's folders": list every file under a test's root that is not
// inside a peer's shared/, downloads/ or .p2p/ (or one of the allowed extra paths).
import { readdirSync, lstatSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

/**
 * Files (and symlinks) under `root` that lie outside `<root>/<peer>/{shared,downloads,.p2p}`
 * for every peer folder, ignoring `allowed` (paths relative to root, matched as prefixes).
 */
export function writtenOutside(root: string, allowed: string[] = []): string[] {
  const out: string[] = [];
  const visit = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      const rel = relative(root, path);
      const parts = rel.split(sep);
      if (parts.length >= 2 && ['shared', 'downloads', '.p2p'].includes(parts[1]!)) continue;
      if (allowed.some((a) => rel === a || rel.startsWith(a + sep))) continue;
      const st = lstatSync(path);
      if (st.isDirectory()) visit(path);
      else out.push(rel);
    }
  };
  visit(root);
  return out;
}
