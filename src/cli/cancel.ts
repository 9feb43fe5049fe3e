// `p2p cancel DOWNLOAD_ID --peer ID`: stop a running download (its verified chunks are kept).
import type { Command } from 'commander';
import { Ack, PROTOCOL_VERSION } from '../protocol/messages.js';
import { request } from '../transport/bus.js';
import { UnknownPeerError } from '../errors.js';
import { action, clientConnection, configFrom } from './common.js';

export function cancelCommand(program: Command): void {
  program
    .command('cancel')
    .description('cancel a running download on a peer')
    .argument('<download-id>', 'download id')
    .requiredOption('--peer <id>', 'peer that runs the download')
    .action(
      action(async (downloadId: string, opts: { peer: string }, cmd: Command) => {
        const config = configFrom(cmd);
        const { nc, subjects } = await clientConnection(config);
        try {
          await request(nc, subjects.cancel(opts.peer), { v: PROTOCOL_VERSION, downloadId }, Ack, {
            timeoutMs: 5000,
            who: `peer ${opts.peer}`,
            noResponders: () => new UnknownPeerError(`no running peer with id "${opts.peer}" answers on this NATS server`),
          });
          process.stdout.write(`cancelled ${downloadId}\n`);
        } finally {
          await nc.close();
        }
      }),
    );
}
