// A .cpuprofile (node --cpu-prof) reduced to the functions with the most self time: what a row
// that misses its target keeps in its detail, so the reason is a measurement, not a guess.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileLine {
  fn: string;
  selfPct: number;
  selfMs: number;
}

/** The `top` functions by self time of the newest .cpuprofile in `dir` (undefined when none). */
export async function profileSummary(dir: string, top = 15): Promise<{ file: string; totalMs: number; top: ProfileLine[] } | undefined> {
  const files = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.cpuprofile')).sort();
  const file = files[files.length - 1];
  if (!file) return undefined;
  const p = JSON.parse(await readFile(join(dir, file), 'utf8')) as Profile;
  const byId = new Map<number, number>();
  p.samples.forEach((id, i) => byId.set(id, (byId.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
  const self = new Map<string, number>();
  let total = 0;
  for (const n of p.nodes) {
    const us = byId.get(n.id) ?? 0;
    if (n.callFrame.functionName === '(idle)' || n.callFrame.functionName === '(program)') continue;
    total += us;
    const where = n.callFrame.url ? ` ${n.callFrame.url.split('/').slice(-2).join('/')}:${n.callFrame.lineNumber + 1}` : '';
    const key = `${n.callFrame.functionName || '(anonymous)'}${where}`;
    self.set(key, (self.get(key) ?? 0) + us);
  }
  const lines = [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([fn, us]) => ({ fn, selfPct: Math.round((1000 * us) / total) / 10, selfMs: Math.round(us / 1000) }));
  return { file: join(dir, file), totalMs: Math.round(total / 1000), top: lines };
}
