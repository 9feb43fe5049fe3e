// `p2p tracker`: run the tracker actor until Ctrl-C. Any number may run together (a NATS queue
// group); with `--store kv` they share the registry in JetStream KV and it outlives them.
import { dirname, resolve } from 'node:path';
import { Option, type Command } from 'commander';
import { Tracker } from '../../actors/tracker.js';
import { createLogger } from '../logger.js';
import { connectBus, watchConnection } from '../transport/bus.js';
import { KvStore } from '../tracker/kv-store.js';
import { MemoryStore, type TrackerStore } from '../tracker/store.js';
import { action, configFrom, intOption, natsAuth, runDaemon } from './common.js';

interface TrackerFlags {
  ttl?: number;
  logFile: string;
  id?: string;
  store?: 'memory' | 'kv';
  replicas?: number;
  data?: string;
}

export function trackerCommand(program: Command): void {
  program
    .command('tracker')
    .description('run the tracker: peers announce to it, downloaders look files up in it')
    .option('--ttl <ms>', 'drop a peer silent for this long (default from config: 15000)', intOption('--ttl', 100))
    .option('--log-file <file>', 'JSON log file', '.p2p-tracker/log.jsonl')
    .option('--id <id>', 'tracker id shown in logs and hello messages')
    .addOption(
      new Option('--store <kind>', 'where the registry lives: memory (this process) or kv (JetStream KV, shared by every tracker instance; default from config: memory)').choices(['memory', 'kv']),
    )
    .option('--data <dir>', "memory store: where the peer id → key bindings are kept across restarts (default from config, else the --log-file's folder)")
    .option('--replicas <n>', 'replicas of the KV bucket when it is created (3 on a 3-node cluster; default from config: 1)', intOption('--replicas', 1, 5))
    .action(
      action(async (opts: TrackerFlags, cmd: Command) => {
        const tracker: Record<string, unknown> = {};
        if (opts.ttl) tracker.ttlMs = opts.ttl;
        if (opts.store) tracker.store = opts.store;
        if (opts.replicas) tracker.kvReplicas = opts.replicas;
        if (opts.data) tracker.dataDir = opts.data;
        const config = await configFrom(cmd, Object.keys(tracker).length ? { tracker } : {});
        const logger = createLogger({ level: config.logLevel, file: resolve(opts.logFile) });
        const nc = await connectBus({ url: config.nats.url, name: 'p2p-tracker', reconnect: true, extra: natsAuth(config) });
        watchConnection(nc, logger.child({ actor: 'bus' }));
        const store: TrackerStore =
          config.tracker.store === 'kv'
            ? new KvStore(nc, logger.child({ actor: 'tracker-store' }), { prefix: config.prefix, replicas: config.tracker.kvReplicas })
            : new MemoryStore({ dataDir: resolve(config.tracker.dataDir || dirname(resolve(opts.logFile))), logger: logger.child({ actor: 'tracker-store' }) });
        const actor = new Tracker(
          { nc, logger, store },
          { prefix: config.prefix, ttlMs: config.tracker.ttlMs, sweepMs: config.tracker.sweepMs, trackerId: opts.id },
        );
        const ready = () =>
          logger.info('tracker ready', { actor: 'tracker', nats: config.nats.url, prefix: config.prefix, store: store.kind, ttlMs: config.tracker.ttlMs });
        await runDaemon(actor, { nc, logger, ready });
      }),
    );
}
