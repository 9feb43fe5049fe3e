// `p2p ls`: every file in the swarm, as the tracker knows it.
import type { Command } from 'commander';
import { ListReply, PROTOCOL_VERSION, type ListEntry } from '../protocol/messages.js';
import { request } from '../transport/bus.js';
import { P2PError } from '../errors.js';
import { action, clientConnection, configFrom, formatBytes } from './common.js';

export function lsCommand(program: Command): void {
  program
    .command('ls')
    .description('list the files in the swarm: name, size, fileId, number of sources')
    .option('--json', 'print one JSON object: { files: [...], total, peers }')
    .action(
      action(async (opts: { json?: boolean }, cmd: Command) => {
        const config = configFrom(cmd);
        const { nc, subjects } = await clientConnection(config);
        try {
          const files: ListEntry[] = [];
          let total = 0;
          let peers = 0;
          for (let offset = 0; offset === 0 || offset < total; ) {
            const page = await request(nc, subjects.list, { v: PROTOCOL_VERSION, offset, limit: 1000 }, ListReply, {
              timeoutMs: 5000,
              who: 'tracker',
              noResponders: () => new P2PError('NOT_FOUND', 'no tracker is answering on this NATS server (start one with `p2p tracker`)'),
            });
            files.push(...page.files);
            total = page.total;
            peers = page.peers;
            if (page.files.length === 0) break;
            offset += page.files.length;
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
        } finally {
          await nc.close();
        }
      }),
    );
}

/** Left-aligned columns, two spaces apart. */
export function printTable(head: string[], rows: string[][]): void {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  for (const r of [head, ...rows]) {
    process.stdout.write(r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ') + '\n');
  }
}
