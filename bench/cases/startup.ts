// startup-version, startup-ls, startup-get: how long the `p2p` CLI takes to start and answer, as a
// ratio to a bare `node -e 0` measured in the same run (the runs of all four interleave, so a
// stall of the shared machine lands on each). `ls` asks a running tracker; `get` asks a running
// peer for a file it already has (the "already-present" answer).
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BenchCase } from '../lib/context.js';
import { CLI, startPeer, startTracker, type Swarm } from '../lib/p2p.js';
import { runProc } from '../lib/procs.js';
import { judge, ratioOf, type CaseResult } from '../lib/report.js';
import { withScope } from '../lib/scope.js';
import { median } from '../lib/stats.js';

const ROWS = [
  { name: 'startup-version', target: 1.5, what: 'p2p --version' },
  { name: 'startup-ls', target: 3, what: 'p2p ls (tracker running)' },
  { name: 'startup-get', target: 3, what: 'p2p get of an already-present file' },
] as const;

export const startup: BenchCase = {
  name: 'startup',
  rows: ROWS.map((r) => r.name),
  timeoutMs: () => 180_000,
  async run(ctx) {
    return withScope(ctx.scope, async (scope) => {
      const swarm: Swarm = { natsUrl: ctx.nats.url, prefix: 'bench-startup' };
      const dir = join(ctx.work, 'startup');
      await startTracker(scope, swarm, join(dir, 'tracker'));
      const peerDir = join(dir, 'peer');
      await mkdir(join(peerDir, 'shared'), { recursive: true });
      await writeFile(join(peerDir, 'shared', 'present.bin'), Buffer.alloc(64 * 1024, 7));
      await startPeer(scope, swarm, peerDir, 'startup-peer');
      const common = ['--nats', swarm.natsUrl, '--prefix', swarm.prefix];
      const commands: Record<string, string[]> = {
        baseline: ['-e', '0'],
        'startup-version': [CLI, '--version'],
        'startup-ls': [CLI, 'ls', ...common],
        'startup-get': [CLI, 'get', 'present.bin', '--peer', 'startup-peer', '-q', ...common],
      };
      const times: Record<string, number[]> = Object.fromEntries(Object.keys(commands).map((k) => [k, []]));
      const reps = ctx.opts.quick ? 7 : 15;
      // one warm-up round (file cache), then the measured ones
      for (let i = 0; i <= reps; i++) {
        for (const [key, args] of Object.entries(commands)) {
          const r = await runProc(scope, process.execPath, args, { timeoutMs: 30_000 });
          if (r.code !== 0) throw new Error(`${key}: exit ${r.code}: ${r.stderr.trim().split('\n').pop() ?? ''}`);
          if (i > 0) times[key]!.push(r.ms);
        }
      }
      const base = median(times.baseline!);
      ctx.log(`startup: node -e 0 ${base.toFixed(0)} ms; ${ROWS.map((r) => `${r.name} ${median(times[r.name]!).toFixed(0)} ms`).join(', ')}`);
      return ROWS.map((row): CaseResult => {
        const value = median(times[row.name]!);
        const ratio = ratioOf(value, base);
        return {
          name: row.name,
          value,
          unit: 'ms',
          baseline: base,
          baselineOf: 'node -e 0',
          ratio,
          target: row.target,
          direction: 'atMost',
          pass: judge(ratio, row.target, 'atMost'),
          runs: times[row.name],
          detail: { baselineRuns: times.baseline },
          note: row.what,
        };
      });
    });
  },
};
