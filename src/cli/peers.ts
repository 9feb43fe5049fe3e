// `p2p peers`: the peers the tracker knows — id, endpoint, files, last seen.
import type { Command } from 'commander';
import type { PeerEntry } from '../protocol/messages.js';
import { action, formatDuration, printTable } from './args.js';

export function peersCommand(program: Command): void {
  program
    .command('peers')
    .description('list the peers the tracker knows: id, endpoint, files, last seen')
    .option('--json', 'print one JSON object: { peers: [{ peerId, endpoint, files, lastSeen }], total }')
    .action(
      action(async (opts: { json?: boolean }, cmd: Command) => {
        const [{ configFrom, clientConnection, noTracker }, { request }, { Light }, { PROTOCOL_VERSION }] = await Promise.all([
          import('./common.js'),
          import('../transport/bus.js'),
          import('../protocol/checked-replies.js'),
          import('../protocol/ids.js'),
        ]);
        const config = await configFrom(cmd);
        const { nc, subjects } = await clientConnection(config);
        const peers: PeerEntry[] = [];
        let total = 0;
        try {
          for (let offset = 0; offset === 0 || offset < total; ) {
            const page = await request(nc, subjects.peers, { v: PROTOCOL_VERSION, offset, limit: 1000 }, Light.PeersReply, {
              timeoutMs: 5000,
              who: 'tracker',
              noResponders: noTracker(config),
            });
            peers.push(...page.peers);
            total = page.total;
            if (page.peers.length === 0) break;
            offset += page.peers.length;
          }
        } finally {
          await nc.close();
        }
        if (opts.json) {
          process.stdout.write(JSON.stringify({ peers, total }) + '\n');
          return;
        }
        if (peers.length === 0) {
          process.stdout.write('no peers in the swarm\n');
          return;
        }
        const now = Date.now();
        printTable(
          ['PEER', 'ENDPOINT', 'FILES', 'LAST SEEN'],
          peers.map((p) => [p.peerId, `${p.endpoint.host}:${p.endpoint.port}`, String(p.files), `${formatDuration(Math.max(0, now - p.lastSeen) / 1000)} ago`]),
        );
        process.stdout.write(`${peers.length} peers\n`);
      }),
    );
}
