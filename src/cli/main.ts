#!/usr/bin/env node
// `p2p` — the command line: tracker and peer daemons, download intents, listings, status, traces,
// and swarm keys.
//
// It starts fast: this file loads commander and the COMMANDS table only. The module of a command
// is imported when that command is named on the command line (to run it or show its --help);
// every other command is a stub that only gives its summary to `p2p --help`. A command module
// keeps its top-level imports light (commander, ./args.js, types) and imports the bus, schemas
// and logger inside its action (`await import('./common.js')`), so `p2p ls --help` stays light too.
//
// Adding a command is one entry in COMMANDS:
//   { name: 'dashboard', summary: 'one line for p2p --help', load: async () => (await import('./dashboard.js')).dashboardCommand },
// where `dashboardCommand(program)` declares the command with `program.command('dashboard')…`.
// `npm run build` bundles main.js with the modules listed in scripts/bundle-cli.mjs (FAST) and
// their dependencies into a few files (much quicker to load than node_modules); any other
// command still loads from tsc's output, so a new command works without touching the bundler.
import type { Command } from 'commander';

const VERSION = '0.1.0';

type Register = (program: Command) => void;
interface Entry {
  name: string;
  summary: string;
  load: () => Promise<Register>;
}

const COMMANDS: Entry[] = [
  { name: 'tracker', summary: 'run the tracker: peers announce to it, downloaders look files up in it', load: async () => (await import('./tracker.js')).trackerCommand },
  { name: 'peer', summary: 'run a peer: share DIR/shared, download into DIR/downloads, serve chunks over TCP', load: async () => (await import('./peer.js')).peerCommand },
  { name: 'get', summary: 'ask a running peer to download a file (by name or fileId) and wait until it is verified', load: async () => (await import('./get.js')).getCommand },
  { name: 'ls', summary: 'list the files in the swarm: name, size, fileId, number of sources', load: async () => (await import('./ls.js')).lsCommand },
  { name: 'peers', summary: 'list the peers the tracker knows: id, endpoint, files, last seen', load: async () => (await import('./peers.js')).peersCommand },
  { name: 'status', summary: "show a running peer's shared files and downloads (rate, ETA)", load: async () => (await import('./status.js')).statusCommand },
  { name: 'trace', summary: "show a download's state-machine transitions (state, event, time, chunk counts)", load: async () => (await import('./trace.js')).traceCommand },
  { name: 'cancel', summary: 'cancel a running download on a peer', load: async () => (await import('./cancel.js')).cancelCommand },
  { name: 'up', summary: 'start a local swarm: NATS (if none answers), a tracker and N peers; Ctrl-C stops everything', load: async () => (await import('./up.js')).upCommand },
  { name: 'keygen', summary: 'write a new random swarm key (for `p2p peer --swarm-key-file`)', load: async () => (await import('./keygen.js')).keygenCommand },
  { name: 'machine', summary: 'print the download machine as a diagram generated from its definition (--mermaid, --svg)', load: async () => (await import('./machine.js')).machineCommand },
  { name: 'dashboard', summary: 'serve a live web dashboard of the swarm (files, chunk maps, peers, downloads, machine diagrams)', load: async () => (await import('./dashboard.js')).dashboardCommand },
  { name: 'completion', summary: 'print a shell completion script: p2p completion bash|zsh|fish', load: async () => (await import('./completion.js')).completionCommand(COMMANDS) },
];

/** The root program with its global options and error handling (before any command). */
async function root(): Promise<Command> {
  // commander too is loaded only past the --version shortcut below
  const { Command, Option } = await import('commander');
  const program = new Command();
  program
    .name('p2p')
    .description('peer-to-peer file sharing with a tracker: actors on NATS, chunks over direct TCP')
    .version(VERSION)
    .option('--nats <url>', 'NATS server URL (else env P2P_NATS_URL, then NATS_URL, else config, default nats://127.0.0.1:4222)')
    .option('-s, --server <url>', 'the same as --nats (as in the `nats` CLI)')
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
    .option('--no-color', 'no colour (also env NO_COLOR); colour is used on a terminal only')
    .showHelpAfterError('(run with --help for usage)')
    .showSuggestionAfterError(true)
    .enablePositionalOptions(false);
  // set before adding commands: subcommands inherit these settings when created
  program.configureOutput({ outputError: (str, write) => write(`p2p: ${str.replace(/^error: /, '')}`) });
  program.exitOverride((err) => {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') process.exit(0);
    process.exit(2);
  });
  return program;
}

/** The command named on the command line: the first word that is not an option or its value. */
function named(program: Command, argv: string[]): string | undefined {
  const takesValue = new Set<string>();
  for (const o of program.options) {
    if (o.required || o.optional) for (const f of [o.long, o.short]) if (f) takesValue.add(f);
  }
  const words: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') break;
    if (a.startsWith('-')) {
      if (takesValue.has(a)) i++;
      continue;
    }
    words.push(a);
    if (words.length === 2) break;
  }
  return words[0] === 'help' ? words[1] : words[0];
}

async function run(selected: string | undefined): Promise<void> {
  const program = await root();
  for (const entry of COMMANDS) {
    if (entry.name === selected) {
      (await entry.load())(program);
      continue;
    }
    // a stub: listed in --help; should it run after all (a command line we misread), it loads
    // the real command and parses again
    program
      .command(entry.name)
      .description(entry.summary)
      .helpOption(false)
      .allowUnknownOption()
      .allowExcessArguments()
      .action(() => run(entry.name));
  }
  await program.parseAsync(process.argv);
}

// Output into a closed pipe (`p2p status | head -1`) ends quietly, as it does for every Unix tool.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

const argv = process.argv.slice(2);
if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V')) {
  process.stdout.write(`${VERSION}\n`);
} else {
  if (argv.includes('--no-color')) process.env.NO_COLOR = '1';
  await run(named(await root(), argv));
}
