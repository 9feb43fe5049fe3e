// `p2p ls`: every file in the swarm, as the tracker knows it.
import type { Command } from 'commander';
import type { ListEntry } from '../protocol/messages.js';
import { action, formatBytes, printTable } from './args.js';

export function lsCommand(program: Command): void {
  program
    .command('ls')
    .description('list the files in the swarm: name, size, fileId, number of sources')
    .option('--json', 'print one JSON object: { files: [...], total, peers }')
    .action(
      action(async (opts: { json?: boolean }, cmd: Command) => {
        const { configFrom, clientConnection, listFiles } = await import('./common.js');
        const config = await configFrom(cmd);
        const { nc, subjects } = await clientConnection(config);
        let files: ListEntry[];
        let total: number;
        let peers: number;
        try {
          ({ files, total, peers } = await listFiles(nc, subjects, config));
        } finally {
          await nc.close();
        }
        if (opts.json) {
          process.stdout.write(JSON.stringify({ files, total, peers }) + '\n');
          return;
        }
        if (files.length === 0) {
          process.stdout.write(`no files in the swarm (${peers} peers online)\n`);
          return;
        }
        const rows = files.map((f) => [f.name, formatBytes(f.size), f.fileId.slice(0, 16), String(f.sources)]);
        printTable(['NAME', 'SIZE', 'FILEID', 'SOURCES'], rows);
        process.stdout.write(`${files.length} files, ${peers} peers online\n`);
      }),
    );
}

export { printTable };
