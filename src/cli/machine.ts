// `p2p machine --mermaid | --svg | --json`: the download machine's diagram, generated from its
// definition (machines/download.ts), so the picture can never drift from the code.
import type { Command } from 'commander';
import { P2PError } from '../errors.js';
import { action } from './args.js';

export function machineCommand(program: Command): void {
  program
    .command('machine')
    .description("print the download state machine's diagram, generated from its definition")
    .option('--mermaid', 'a mermaid stateDiagram-v2 (the default)')
    .option('--svg', 'an SVG picture, laid out offline')
    .option('--json', 'states and transitions as JSON')
    .action(
      action(async (opts: { mermaid?: boolean; svg?: boolean; json?: boolean }) => {
        if ([opts.mermaid, opts.svg, opts.json].filter(Boolean).length > 1) throw new P2PError('BAD_REQUEST', 'choose one of --mermaid, --svg or --json');
        process.stdout.write(await machineDiagram(opts.svg ? 'svg' : opts.json ? 'json' : 'mermaid'));
      }),
    );
}

/** The download machine as mermaid, SVG or JSON, with an optional recorded path marked on it. */
export async function machineDiagram(format: 'mermaid' | 'svg' | 'json', path?: Array<{ from: string; to: string; event: string }>): Promise<string> {
  const { downloadMachine } = await import('../../machines/download.js');
  const { machineGraph, markPath } = await import('../dashboard/graph.js');
  const graph = machineGraph(downloadMachine);
  const marks = path ? markPath(graph, path) : undefined;
  if (format === 'json') return JSON.stringify(graph, null, 2) + '\n';
  if (format === 'mermaid') {
    const { toMermaid } = await import('../dashboard/mermaid.js');
    return toMermaid(graph, marks);
  }
  const [{ layoutMachine }, { toSvg }] = await Promise.all([import('../dashboard/layout.js'), import('../dashboard/svg.js')]);
  return toSvg(await layoutMachine(graph), marks);
}
