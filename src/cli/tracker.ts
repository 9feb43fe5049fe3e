// `p2p tracker`: run the tracker actor until Ctrl-C.
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { Tracker } from '../../actors/tracker.js';
import { createLogger } from '../logger.js';
import { connectBus, watchConnection } from '../transport/bus.js';
import { action, configFrom, intOption, natsAuth, runDaemon } from './common.js';

export function trackerCommand(program: Command): void {
  program
    .command('tracker')
    .description('run the tracker: peers announce to it, downloaders look files up in it')
    .option('--ttl <ms>', 'drop a peer silent for this long (default from config: 15000)', intOption('--ttl', 100))
    .option('--log-file <file>', 'JSON log file', '.p2p-tracker/log.jsonl')
    .option('--id <id>', 'tracker id shown in logs and hello messages')
    .action(
      action(async (opts: { ttl?: number; logFile: string; id?: string }, cmd: Command) => {
        const config = configFrom(cmd, opts.ttl ? { tracker: { ttlMs: opts.ttl } } : {});
        const logger = createLogger({ level: config.logLevel, file: resolve(opts.logFile) });
        const nc = await connectBus({ url: config.nats.url, name: 'p2p-tracker', reconnect: true, extra: natsAuth(config) });
        watchConnection(nc, logger.child({ actor: 'bus' }));
        const tracker = new Tracker(
          { nc, logger },
          { prefix: config.prefix, ttlMs: config.tracker.ttlMs, sweepMs: config.tracker.sweepMs, trackerId: opts.id },
        );
        await runDaemon(tracker, { nc, logger, ready: () => logger.info('tracker ready', { actor: 'tracker', nats: config.nats.url, prefix: config.prefix, ttlMs: config.tracker.ttlMs }) });
      }),
    );
}

