// The `p2p` command line before it talks to anyone: fast paths that load nothing heavy, usage
// errors (exit 2) that say what is wrong, broker URL sources, config file errors, completion, and
// quiet output into a closed pipe.
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { CLI, FAST_ENV, loadedFiles, runCli } from '../helpers/processes.js';
import { freePort } from '../helpers/ports.js';
import { tempDir } from '../helpers/tmp.js';

for (const args of [['--version'], ['--help'], ['ls', '--help'], ['get', '--help'], ['status', '--help'], ['help', 'trace']]) {
  test(`p2p ${args.join(' ')} loads neither the bus, the schemas, the logger nor the machines`, async (t) => {
    const files = await loadedFiles(t, args);
    t.true(files.length > 0);
    for (const f of files) {
      t.notRegex(f, /node_modules\/(nats|zod|winston|xstate|msgpackr)\//, f);
      // bundled chunks: none holding the nats client or zod
      if (f.endsWith('.js')) t.notRegex(readFileSync(f, 'utf8'), /NatsConnectionImpl|ZodObject/, f);
    }
    // --version: main.js and at most the bundler's tiny shared runtime
    if (args[0] === '--version') t.true(files.length <= 2 && files.reduce((n, f) => n + readFileSync(f).length, 0) < 20_000, files.join(', '));
  });
}

test('--version prints the version', async (t) => {
  const r = await runCli(['--version']);
  t.is(r.code, 0);
  t.is(r.stdout.trim(), '0.1.0');
});

test('a misspelt flag or command is named, with the close one', async (t) => {
  const flag = await runCli(['get', 'movie.mkv', '--per', 'bob']);
  t.is(flag.code, 2);
  t.regex(flag.stderr, /unknown option '--per'/);
  t.regex(flag.stderr, /Did you mean --peer\?/);
  const cmd = await runCli(['stauts']);
  t.is(cmd.code, 2);
  t.regex(cmd.stderr, /unknown command 'stauts'/);
  t.regex(cmd.stderr, /Did you mean status\?/);
});

test('--nats garbage (or -s garbage) is a usage error, not a DNS lookup', async (t) => {
  for (const flag of ['--nats', '-s', '--server']) {
    const r = await runCli(['ls', flag, 'garbage']);
    t.is(r.code, 2, r.stderr);
    t.regex(r.stderr, /"garbage" is not a NATS URL: write nats:\/\/HOST:PORT/);
  }
  const env = await runCli(['ls'], { env: { P2P_NATS_URL: 'garbage' } });
  t.is(env.code, 2);
  t.regex(env.stderr, /P2P_NATS_URL "garbage" is not a NATS URL/);
});

test('-s/--server are aliases of --nats; NATS_URL is used after P2P_NATS_URL', async (t) => {
  const [a, b] = [await freePort(), await freePort()];
  const server = await runCli(['ls', '-s', `nats://127.0.0.1:${a}`]);
  t.is(server.code, 5);
  t.regex(server.stderr, new RegExp(`127\\.0\\.0\\.1:${a}`));
  const natsUrl = await runCli(['ls'], { env: { NATS_URL: `nats://127.0.0.1:${a}` } });
  t.is(natsUrl.code, 5);
  t.regex(natsUrl.stderr, new RegExp(`127\\.0\\.0\\.1:${a}`), 'NATS_URL is honoured');
  const both = await runCli(['ls'], { env: { NATS_URL: `nats://127.0.0.1:${a}`, P2P_NATS_URL: `nats://127.0.0.1:${b}` } });
  t.regex(both.stderr, new RegExp(`127\\.0\\.0\\.1:${b}`), 'P2P_NATS_URL wins');
});

test('peer --dir that is a file is a usage error with a hint', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'a-file');
  await writeFile(file, 'x');
  const r = await runCli(['peer', '--dir', file, '--nats', 'nats://127.0.0.1:1']);
  t.is(r.code, 2, r.stderr);
  t.regex(r.stderr, /--dir .*a-file is a file, not a folder/);
  t.notRegex(r.stderr, /ENOTDIR|EEXIST/);
});

test('peer --port already in use is a usage error with a hint', async (t) => {
  const dir = await tempDir(t);
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.teardown(() => srv.close());
  const { port } = srv.address() as { port: number };
  const r = await runCli(['peer', '--dir', dir, '--port', String(port), '--nats', 'nats://127.0.0.1:1']);
  t.is(r.code, 2, r.stderr);
  t.regex(r.stderr, new RegExp(`--port ${port} is already in use on 127\\.0\\.0\\.1: .*--port 0 for any free one`));
  t.notRegex(r.stderr, /EADDRINUSE/);
});

test('a bad value in a config file names the file and the key; unknown keys are reported', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'p2p.json');
  await writeFile(file, JSON.stringify({ peer: { port: 'high' } }));
  const port = await freePort();
  const bad = await runCli(['ls', '--config', file, '--nats', `nats://127.0.0.1:${port}`]);
  t.is(bad.code, 2);
  t.regex(bad.stderr, new RegExp(`bad configuration peer\\.port in config file ${file.replace(/[.]/g, '\\.')}`));
  t.notRegex(bad.stderr, /P2P_PEER_PORT/, 'not an env variable the user never set');
  await writeFile(file, JSON.stringify({ peer: { defualt: 'bob' }, colour: true }));
  const unknown = await runCli(['ls', '--config', file, '--nats', `nats://127.0.0.1:${port}`]);
  t.regex(unknown.stderr, /config file .*p2p\.json: unknown keys peer\.defualt, colour \(ignored\)/);
  t.is(unknown.code, 5, 'a warning, then the command runs');
});

test('without --peer and without a default peer: a usage error that says how to set one', async (t) => {
  for (const args of [['get', 'x'], ['status'], ['trace', 'last'], ['cancel', 'last']]) {
    const r = await runCli([...args, '--nats', 'nats://127.0.0.1:1']);
    t.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, /required option '--peer <id>' not specified \(or set a default peer: env P2P_PEER or peer\.default/);
  }
});

test('p2p completion bash completes commands and their options in a real bash', async (t) => {
  const script = await runCli(['completion', 'bash']);
  t.is(script.code, 0);
  const dir = await tempDir(t);
  await writeFile(join(dir, 'p2p.bash'), script.stdout);
  const probe = (words: string[]) =>
    spawnSync('bash', ['-c', `source ${join(dir, 'p2p.bash')}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _p2p; echo "\${COMPREPLY[@]}"`], { encoding: 'utf8' }).stdout.trim();
  t.is(probe(['p2p', 'sta']), 'status');
  t.deepEqual(probe(['p2p', 'pe']).split(' ').sort(), ['peer', 'peers']);
  t.is(probe(['p2p', 'get', 'x', '--pe']), '--peer');
  t.regex(probe(['p2p', 'get', '--']), /--cancel-on-interrupt/);
  for (const shell of ['zsh', 'fish']) {
    const r = await runCli(['completion', shell]);
    t.is(r.code, 0);
    t.regex(r.stdout, shell === 'fish' ? /complete -c p2p -n __fish_use_subcommand -a peers/ : /#compdef p2p/);
  }
  const bad = await runCli(['completion', 'tcsh']);
  t.is(bad.code, 2);
});

test('colour only on a terminal: never in a pipe, off with NO_COLOR or --no-color', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'key');
  await writeFile(file, 'x');
  const piped = await runCli(['keygen', '--out', file]);
  t.is(piped.code, 2);
  t.notRegex(piped.stderr, /\x1b\[/, 'no escape codes into a pipe');
  const forced = await runCli(['keygen', '--out', file], { env: { FORCE_COLOR: '1' } });
  t.regex(forced.stderr, /\x1b\[31mp2p:\x1b\[0m/, 'red on a colour terminal');
  const off = await runCli(['keygen', '--out', file, '--no-color'], { env: { FORCE_COLOR: '1' } });
  t.notRegex(off.stderr, /\x1b\[/);
  const noColor = await runCli(['keygen', '--out', file], { env: { FORCE_COLOR: '1', NO_COLOR: '1' } });
  t.notRegex(noColor.stderr, /\x1b\[/);
});

test('output into a pipe closed early ends quietly (no EPIPE stack trace)', async (t) => {
  // `p2p completion bash | head -0`: the reader is gone before the first write
  const child = spawn(process.execPath, [CLI, 'completion', 'bash'], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.destroy();
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  t.is(code, 0, stderr);
  t.notRegex(stderr, /EPIPE|Error|at /);
});

test('--help of the commands that talk to a peer shows the default-peer hint where it applies', async (t) => {
  for (const c of ['get', 'status', 'trace', 'cancel']) {
    const r = await runCli([c, '--help']);
    t.is(r.code, 0);
    t.regex(r.stdout, /--peer <id>.*\n?.*default: env P2P_PEER/);
  }
  const peers = await runCli(['peers', '--help']);
  t.regex(peers.stdout, /Usage: p2p peers/);
});
