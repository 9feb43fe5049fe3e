// `p2p status [--peer ID]`: a peer's shared files and its downloads with progress, rate and ETA.
import type { Command } from 'commander';
import type { DownloadInfo } from '../protocol/messages.js';
import { action, etaSeconds, formatBytes, formatDuration, peerIdOption, printTable } from './args.js';

export function statusCommand(program: Command): void {
  program
    .command('status')
    .description("show a running peer's shared files and downloads (rate, ETA)")
    .option('--peer <id>', 'peer id (default: env P2P_PEER or peer.default in the config)', peerIdOption)
    .option('--json', 'print the status as one JSON object')
    .action(
      action(async (opts: { peer?: string; json?: boolean }, cmd: Command) => {
        const { configFrom, clientConnection, peerFrom, peerStatus } = await import('./common.js');
        const config = await configFrom(cmd);
        const peer = peerFrom(opts.peer, config);
        const { nc, subjects } = await clientConnection(config);
        let st;
        try {
          st = await peerStatus(nc, subjects, config, peer);
        } finally {
          await nc.close();
        }
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
            ['ID', 'NAME', 'STATUS', 'STATE', 'PROGRESS', 'RATE', 'ETA', 'SOURCES'],
            st.downloads.map((d) => [d.downloadId, d.name ?? d.target, d.status, d.state, progressText(d), rateText(d), etaText(d), String(d.sources)]),
          );
        }
      }),
    );
}

/** Percent, bytes and chunks; 100 % only for a download that has every byte. */
export function progressText(d: DownloadInfo): string {
  const pct = percent(d);
  return `${pct === undefined ? '-' : `${pct}%`} ${formatBytes(d.bytes)}/${d.totalBytes || d.status === 'done' || d.status === 'already-present' ? formatBytes(d.totalBytes) : '?'} (${d.verifiedChunks}/${d.totalChunks} chunks)${d.error ? ` ${d.error.code}` : ''}`;
}

/** Whole percent done; undefined while the size is unknown. Never 100 unless every byte is there. */
export function percent(d: DownloadInfo): number | undefined {
  if (d.status === 'done' || d.status === 'already-present') return 100;
  if (!d.totalBytes) return undefined;
  const p = Math.floor((d.bytes / d.totalBytes) * 100);
  return d.bytes < d.totalBytes ? Math.min(p, 99) : 100;
}

export function rateText(d: DownloadInfo): string {
  return d.status === 'running' && d.rateBps > 0 ? `${formatBytes(Math.round(d.rateBps))}/s` : '-';
}

export function etaText(d: DownloadInfo): string {
  if (d.status !== 'running') return '-';
  const eta = etaSeconds(d.bytes, d.totalBytes, d.rateBps);
  return eta === undefined ? '?' : formatDuration(eta);
}
