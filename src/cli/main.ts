#!/usr/bin/env node
// `p2p` — the command line: tracker and peer daemons, download intents, listings, status, traces,
// and swarm keys.
import { Command, Option } from 'commander';
import { trackerCommand } from './tracker.js';
import { peerCommand } from './peer.js';
import { getCommand } from './get.js';
import { lsCommand } from './ls.js';
import { statusCommand } from './status.js';
import { traceCommand } from './trace.js';
import { cancelCommand } from './cancel.js';
import { upCommand } from './up.js';
import { keygenCommand } from './keygen.js';
import { machineCommand } from './machine.js';
import { dashboardCommand } from './dashboard.js';

const program = new Command();
program
  .name('p2p')
  .description('peer-to-peer file sharing with a tracker: actors on NATS, chunks over direct TCP')
  .version('0.1.0')
  .option('--nats <url>', 'NATS server URL (else env P2P_NATS_URL, else config, default nats://127.0.0.1:4222)')
  .option('--nats-user <user>', 'NATS user (else env P2P_NATS_USER); password from --nats-pass or P2P_NATS_PASS')
  .option('--nats-pass <password>', 'NATS password (prefer env P2P_NATS_PASS: flags show in ps)')
  .option('--nats-token <token>', 'NATS token (prefer env P2P_NATS_TOKEN)')
  .option('--nats-creds <file>', 'NATS credentials file (.creds: JWT + NKey)')
  .option('--nats-nkey <file>', 'file with an NKey seed')
  .option('--nats-ca <file>', 'CA certificate to verify the NATS server (TLS)')
  .option('--nats-cert <file>', 'client certificate for NATS TLS (with --nats-key)')
  .option('--nats-key <file>', 'client key for NATS TLS')
  .option('--prefix <prefix>', 'subject prefix: swarms sharing a broker use different ones (default p2p)')
  .option('--config <file>', 'JSON config file layered over config/default.json (else env P2P_CONFIG)')
  .addOption(new Option('--log-level <level>', 'log level').choices(['error', 'warn', 'info', 'debug', 'silent']))
  .showHelpAfterError('(run with --help for usage)')
  .enablePositionalOptions(false);

// set before adding commands: subcommands inherit these settings when created
program.configureOutput({ outputError: (str, write) => write(`p2p: ${str.replace(/^error: /, '')}`) });
program.exitOverride((err) => {
  if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') process.exit(0);
  process.exit(2);
});

trackerCommand(program);
peerCommand(program);
getCommand(program);
lsCommand(program);
statusCommand(program);
traceCommand(program);
cancelCommand(program);
upCommand(program);
keygenCommand(program);
machineCommand(program);
dashboardCommand(program);

await program.parseAsync(process.argv);
