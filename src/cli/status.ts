// `p2p status --peer ID`: a peer's shared files and its downloads with progress.
import type { Command } from 'commander';
import { PROTOCOL_VERSION, StatusReply, type DownloadInfo } from '../protocol/messages.js';
import { request } from '../transport/bus.js';
import { UnknownPeerError } from '../errors.js';
import { action, clientConnection, configFrom, formatBytes } from './common.js';
import { printTable } from './ls.js';

export function statusCommand(program: Command): void {
  program
    .command('status')
    .description("show a running peer's shared files and downloads")
    .requiredOption('--peer <id>', 'peer id')
    .option('--json', 'print the status as one JSON object')
    .action(
      action(async (opts: { peer: string; json?: boolean }, cmd: Command) => {
        const config = configFrom(cmd);
        const { nc, subjects } = await clientConnection(config);
        try {
          const st = await request(nc, subjects.status(opts.peer), { v: PROTOCOL_VERSION }, StatusReply, {
            timeoutMs: 5000,
            who: `peer ${opts.peer}`,
            noResponders: () => new UnknownPeerError(`no running peer with id "${opts.peer}" answers on this NATS server`),
          });
          if (opts.json) {
            const { v: _v, ok: _ok, ...rest } = st;
            process.stdout.write(JSON.stringify(rest) + '\n');
            return;
          }
          const out = (s: string) => process.stdout.write(s + '\n');
          out(`peer ${st.peerId} at ${st.endpoint.host}:${st.endpoint.port}  (${st.dir})`);
          out(`served ${st.served.chunks} chunks, ${formatBytes(st.served.bytes)}`);
          out('');
          out(`shared files (${st.shared.length}):`);
          if (st.shared.length) printTable(['NAME', 'SIZE', 'FILEID', 'FROM'], st.shared.map((f) => [f.name, formatBytes(f.size), f.fileId.slice(0, 16), f.origin]));
          out('');
          out(`downloads (${st.downloads.length}):`);
          if (st.downloads.length) {
            printTable(
              ['ID', 'NAME', 'STATUS', 'STATE', 'PROGRESS', 'SOURCES'],
              st.downloads.map((d) => [d.downloadId, d.name ?? d.target, d.status, d.state, progressText(d), String(d.sources)]),
            );
          }
        } finally {
          await nc.close();
        }
      }),
    );
}

export function progressText(d: DownloadInfo): string {
  const pct = d.totalBytes ? Math.floor((d.bytes / d.totalBytes) * 100) : d.status === 'done' ? 100 : 0;
  return `${pct}% ${formatBytes(d.bytes)}/${formatBytes(d.totalBytes)} (${d.verifiedChunks}/${d.totalChunks} chunks)${d.error ? ` ${d.error.code}` : ''}`;
}
