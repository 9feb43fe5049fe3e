// `p2p cancel DOWNLOAD [--peer ID]`: stop a running download (its verified chunks are kept). The
// download is its id, a file name (its latest download) or `last`.
import type { Command } from 'commander';
import { ExitCode, action, peerIdOption } from './args.js';

export function cancelCommand(program: Command): void {
  program
    .command('cancel')
    .description('cancel a running download on a peer')
    .argument('<download>', 'download id, a file name (its latest download) or `last`')
    .option('--peer <id>', 'peer that runs the download (default: env P2P_PEER or peer.default)', peerIdOption)
    .action(
      action(async (ref: string, opts: { peer?: string }, cmd: Command) => {
        const [{ configFrom, clientConnection, peerFrom, resolveDownload, noPeer }, { request }, { Light }, { PROTOCOL_VERSION }] = await Promise.all([
          import('./common.js'),
          import('../transport/bus.js'),
          import('../protocol/checked-replies.js'),
          import('../protocol/ids.js'),
        ]);
        const config = await configFrom(cmd);
        const peer = peerFrom(opts.peer, config);
        const { nc, subjects } = await clientConnection(config);
        try {
          const d = await resolveDownload(nc, subjects, config, peer, ref);
          if (d.status !== 'running') {
            // nothing to stop: say so, and do not claim success
            process.stderr.write(`p2p: download ${d.downloadId} of "${d.name ?? d.target}" is already ${d.status}: nothing was cancelled\n`);
            return ExitCode.failed;
          }
          await request(nc, subjects.cancel(peer), { v: PROTOCOL_VERSION, downloadId: d.downloadId }, Light.Ack, {
            timeoutMs: 5000,
            who: `peer ${peer}`,
            noResponders: noPeer(peer, config),
          });
          process.stdout.write(`cancelled ${d.downloadId} (${d.name ?? d.target})\n`);
        } finally {
          await nc.close();
        }
      }),
    );
}
