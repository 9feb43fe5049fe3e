// The `p2p` command line as a user meets it: --help everywhere, clear errors and exit codes on bad
// input, no hang when the broker is missing, and `p2p up --demo` doing a real download.
import test from 'ava';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { spawn, spawnSync } from 'node:child_process';
import { CLI, FAST_ENV, lastJson, runCli, startDaemon } from '../helpers/processes.js';
import { startNats } from '../helpers/nats.js';
import { tempDir } from '../helpers/tmp.js';
import { freePort } from '../helpers/ports.js';

const commands = ['tracker', 'peer', 'get', 'ls', 'peers', 'status', 'trace', 'cancel', 'up', 'keygen', 'completion', 'dashboard', 'machine'];

test('p2p --help lists every command', async (t) => {
  const r = await runCli(['--help']);
  t.is(r.code, 0);
  for (const c of commands) t.regex(r.stdout, new RegExp(`^\\s+${c}\\b`, 'm'));
  t.regex(r.stdout, /--nats <url>/);
});

for (const c of commands) {
  test(`p2p ${c} --help`, async (t) => {
    const r = await runCli([c, '--help']);
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, new RegExp(`Usage: p2p ${c}`));
  });
}

test('usage errors exit 2 with a clear line', async (t) => {
  const missing = await runCli(['get', 'x']);
  t.is(missing.code, 2);
  t.regex(missing.stderr, /required option '--peer <id>'/);
  const badInt = await runCli(['peer', '--dir', '/tmp/x', '--port', 'abc']);
  t.is(badInt.code, 2);
  t.regex(badInt.stderr, /--port must be an integer/);
  const unknown = await runCli(['fly']);
  t.is(unknown.code, 2);
});

test('no broker: a clear message and exit 5, not a hang', async (t) => {
  const port = await freePort();
  const started = Date.now();
  const r = await runCli(['ls', '--nats', `nats://127.0.0.1:${port}`], { timeoutMs: 20_000 });
  t.is(r.code, 5, r.stderr);
  t.regex(r.stderr, /cannot reach the NATS broker/);
  t.true(Date.now() - started < 15_000);
  const env = await runCli(['status', '--peer', 'x'], { env: { P2P_NATS_URL: `nats://127.0.0.1:${port}` } });
  t.is(env.code, 5);
  t.regex(env.stderr, new RegExp(`127\\.0\\.0\\.1:${port}`), 'P2P_NATS_URL is used');
});

test('bad config from env is reported with its name', async (t) => {
  const r = await runCli(['ls'], { env: { P2P_TRACKER_TTL_MS: 'never' } });
  t.is(r.code, 2);
  t.regex(r.stderr, /P2P_TRACKER_TTL_MS/);
});

test('p2p up without a broker and without nats-server says how to install it', async (t) => {
  const port = await freePort();
  const dir = await tempDir(t, 'p2p-up-');
  const r = await runCli(['up', '--dir', dir, '--exit', '--nats', `nats://127.0.0.1:${port}`], {
    env: { P2P_NATS_SERVER: join(dir, 'no-such-nats-server') },
    timeoutMs: 30_000,
  });
  t.is(r.code, 5, r.stderr);
  t.regex(r.stderr, /nats-server is not installed: install it \(Debian\/Ubuntu: sudo apt-get install -y nats-server\)/);
});

test('p2p up --demo brings up a swarm and downloads a file', async (t) => {
  const nats = await startNats(t);
  const dir = await tempDir(t, 'p2p-up-');
  const r = await runCli(['up', '--peers', '2', '--dir', dir, '--demo', '--exit', '--nats', nats.url, '--prefix', 'uptest'], { timeoutMs: 90_000 });
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /demo: downloaded and verified/);
  t.regex(r.stdout, /dashboard: http:\/\/127\.0\.0\.1:\d+\//);
  const original = await readFile(join(dir, 'peer1', 'shared', 'hello-swarm.bin'));
  const copy = await readFile(join(dir, 'peer2', 'downloads', 'hello-swarm.bin'));
  t.true(original.equals(copy));
  t.true(existsSync(join(dir, 'peer2', '.p2p', 'log.jsonl')));
});

test('p2p machine prints the download machine as mermaid and SVG', async (t) => {
  const mermaid = await runCli(['machine', '--mermaid']);
  t.is(mermaid.code, 0, mermaid.stderr);
  t.regex(mermaid.stdout, /^stateDiagram-v2\n {2}\[\*\] --> \w+/);
  const svg = await runCli(['machine', '--svg']);
  t.is(svg.code, 0, svg.stderr);
  t.regex(svg.stdout, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  t.regex(svg.stdout, /<\/svg>\n$/);
  const both = await runCli(['machine', '--svg', '--mermaid']);
  t.is(both.code, 2);
});

test('docker-compose.nats.yml describes NATS with JetStream, a tracker and two peers with volumes', async (t) => {
  const doc = parse(await readFile(new URL('../../docker-compose.nats.yml', import.meta.url), 'utf8')) as {
    services: Record<string, { command?: string[]; volumes?: string[]; image?: string; build?: unknown; environment?: Record<string, string> }>;
    volumes: Record<string, unknown>;
  };
  t.true(doc.services.nats!.command!.includes('-js'));
  t.deepEqual(doc.services.tracker!.command!.slice(0, 1), ['tracker']);
  for (const p of ['peer1', 'peer2']) {
    const svc = doc.services[p]!;
    t.is(svc.command![0], 'peer');
    t.is(svc.environment!.P2P_NATS_URL, 'nats://nats:4222');
    const vol = svc.volumes![0]!.split(':')[0]!;
    t.true(vol in doc.volumes, `${p} has its own named volume`);
  }
  t.not(doc.services.peer1!.volumes![0], doc.services.peer2!.volumes![0]);
  t.true(existsSync(new URL('../../Dockerfile', import.meta.url)));
});

/** Lines of `[label] …` output that carry nothing. */
const blankPrefixed = (text: string) => text.split('\n').filter((l) => /^\[[\w-]+\]\s*$/.test(l));

test.serial('p2p up starts its own nats-server on the URL it was given; the demo keeps to a private prefix', async (t) => {
  const port = await freePort();
  const dir = await tempDir(t, 'p2p-up-');
  const r = await runCli(['up', '--peers', '2', '--dir', dir, '--demo', '--exit', '--nats', `nats://127.0.0.1:${port}`], { timeoutMs: 90_000 });
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, new RegExp(`started nats-server at nats://127\\.0\\.0\\.1:${port}`));
  t.regex(r.stdout, /swarm up: .*\(prefix demo-[0-9a-f]{6}\)/);
  t.regex(r.stdout, /demo: downloaded and verified/);
  t.regex(r.stdout, /p2p ls --nats \S+ --prefix demo-[0-9a-f]{6}/, 'the hints carry the prefix');
  t.deepEqual(blankPrefixed(r.stderr), []);
  const order = r.stdout.split('\n');
  const broker = order.indexOf('stopped nats-server');
  t.true(broker > 0);
  for (const c of ['tracker', 'peer1', 'peer2']) t.true(order.indexOf(`stopped ${c}`) >= 0 && order.indexOf(`stopped ${c}`) < broker, `${c} stops before the broker`);
});

test.serial('p2p up --demo on a broker with a swarm: the demo does not mix with it', async (t) => {
  const nats = await startNats(t);
  const dir = await tempDir(t, 'p2p-up-');
  await startDaemon(t, ['tracker', '--nats', nats.url, '--log-file', join(dir, 'tracker.jsonl')], { ready: /tracker ready/, timeoutMs: 60_000 });
  const r = await runCli(['up', '--peers', '2', '--dir', join(dir, 'swarm'), '--demo', '--exit', '--nats', nats.url], { timeoutMs: 90_000 });
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, new RegExp(`using the NATS server at ${nats.url.replace(/[.]/g, '\\.')}`));
  const peers = lastJson<{ total: number }>(await runCli(['peers', '--json', '--nats', nats.url]));
  t.is(peers.total, 0, 'no demo peer joined the swarm under the default prefix');
  const log = await readFile(join(dir, 'tracker.jsonl'), 'utf8');
  t.notRegex(log, /peer joined/);
});

test.serial('Ctrl-C on p2p up: the peers and the tracker stop before the broker, no blank lines', async (t) => {
  const port = await freePort();
  const dir = await tempDir(t, 'p2p-up-');
  const child = spawn(process.execPath, [CLI, 'up', '--peers', '2', '--no-dashboard', '--dir', dir, '--nats', `nats://127.0.0.1:${port}`], { env: { ...process.env, ...FAST_ENV }, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => child.kill('SIGKILL'));
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const up = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`p2p up did not come up:\n${stdout}\n${stderr}`)), 100_000);
    child.stdout!.on('data', (d) => {
      stdout += d;
      if (/Ctrl-C stops the swarm/.test(stdout)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  await up;
  child.kill('SIGINT');
  t.is(await exited, 0, stderr);
  const lines = stdout.split('\n');
  const broker = lines.indexOf('stopped nats-server');
  t.true(broker > 0, stdout);
  for (const c of ['tracker', 'peer1', 'peer2']) t.true(lines.indexOf(`stopped ${c}`) >= 0 && lines.indexOf(`stopped ${c}`) < broker, `${c} before the broker`);
  t.regex(stdout, /swarm stopped/);
  t.deepEqual(blankPrefixed(stderr), []);
  t.regex(stderr, /\[peer1\] .*peer stopped|\[peer1\] .*stopping/);
});

/** Processes whose command line mentions `text` (our children carry their --dir in it). */
function processesWith(text: string): string[] {
  const out = spawnSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' }).stdout;
  return out.split('\n').filter((l) => l.includes(text) && !l.includes('ps -eo'));
}

for (const when of [/started nats-server at/, /swarm up:/]) {
  test.serial(`Ctrl-C on p2p up while it starts (after "${when.source}"): whatever started is stopped, exit 130`, async (t) => {
    const port = await freePort();
    const dir = await tempDir(t, 'p2p-up-');
    const child = spawn(process.execPath, [CLI, 'up', '--peers', '3', '--dir', dir, '--nats', `nats://127.0.0.1:${port}`], { env: { ...process.env, ...FAST_ENV }, stdio: ['ignore', 'pipe', 'pipe'] });
    t.teardown(() => child.kill('SIGKILL'));
    let stdout = '';
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${when.source}:\n${stdout}\n${stderr}`)), 60_000);
      child.stdout!.on('data', (d) => {
        stdout += d;
        if (when.test(stdout)) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    child.kill('SIGINT');
    t.is(await exited, 130, `${stdout}\n${stderr}`);
    t.regex(stdout, /interrupted while starting: swarm stopped/);
    t.notRegex(stdout, /Ctrl-C stops the swarm/);
    t.true(stdout.includes('stopped nats-server'), stdout);
    // the detached children are gone (the broker included), none left running on its own
    const deadline = Date.now() + 10_000;
    while (processesWith(dir).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    t.deepEqual(processesWith(dir), []);
  });
}
