// Access control on the bus with the shipped docs/nats-server.conf: credentials missing or wrong
// are refused with a clear error, every role works end to end with only its own subjects, and a
// role trying a subject it may not use is refused by the broker.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect, type NatsConnection } from 'nats';
import { startNats } from '../helpers/nats.js';
import { tempDir } from '../helpers/tmp.js';
import { lastJson, runCli, startDaemon } from '../helpers/processes.js';
import { Scope } from '../helpers/scope.js';

const scope = new Scope();
test.after.always(() => scope.run());

const users = {
  tracker: { P2P_NATS_USER: 'tracker', P2P_NATS_PASS: 'change-me-tracker' },
  cli: { P2P_NATS_USER: 'cli', P2P_NATS_PASS: 'change-me-cli' },
  peer1: { P2P_NATS_USER: 'peer1', P2P_NATS_PASS: 'change-me-peer1' },
  peer2: { P2P_NATS_USER: 'peer2', P2P_NATS_PASS: 'change-me-peer2' },
  dashboard: { P2P_NATS_USER: 'dashboard', P2P_NATS_PASS: 'change-me-dashboard' },
};
let url = '';
let root = '';

test.before(async () => {
  root = await tempDir(scope, 'p2p-access-');
  const conf = (await readFile(new URL('../../docs/nats-server.conf', import.meta.url), 'utf8')).replace('/var/lib/nats-server', join(root, 'js'));
  await writeFile(join(root, 'nats.conf'), conf);
  const nats = await startNats(scope, { config: join(root, 'nats.conf'), jetstream: false });
  url = nats.url;
});

const as = (user: keyof typeof users) => ({ ...users[user] });

test.serial('no credentials, or wrong ones: a clear refusal, exit 5', async (t) => {
  const none = await runCli(['ls', '--nats', url]);
  t.is(none.code, 5, none.stderr);
  t.regex(none.stderr, /refused our credentials.*\[AUTH_FAILED\]/);
  const wrong = await runCli(['ls', '--nats', url], { env: { P2P_NATS_USER: 'cli', P2P_NATS_PASS: 'guess' } });
  t.is(wrong.code, 5);
  t.regex(wrong.stderr, /refused our credentials/);
  const flags = await runCli(['ls', '--nats', url, '--nats-user', 'cli', '--nats-pass', 'nope']);
  t.is(flags.code, 5);
});

test.serial('each role with only its own subjects: a full download works', async (t) => {
  await startDaemon(scope, ['tracker', '--nats', url, '--log-file', join(root, 'tracker.jsonl')], { ready: /tracker ready/, env: as('tracker') });
  const content = randomBytes(3 * 1024 * 1024 + 5);
  await mkdir(join(root, 'peer1', 'shared'), { recursive: true });
  await writeFile(join(root, 'peer1', 'shared', 'secret-plans.bin'), content);
  const p1 = await startDaemon(scope, ['peer', '--dir', join(root, 'peer1'), '--id', 'peer1', '--nats', url], { ready: /peer ready/, env: as('peer1') });
  const p2 = await startDaemon(scope, ['peer', '--dir', join(root, 'peer2'), '--id', 'peer2', '--nats', url], { ready: /peer ready/, env: as('peer2') });
  const r = await runCli(['get', 'secret-plans.bin', '--peer', 'peer2', '--json', '--timeout', '30', '--nats', url], { env: as('cli'), timeoutMs: 60_000 });
  t.is(r.code, 0, r.stderr);
  const out = lastJson<{ path: string; status: string }>(r);
  t.is(out.status, 'done');
  t.true((await readFile(out.path)).equals(content));
  const ls = await runCli(['ls', '--json', '--nats', url], { env: as('cli') });
  t.is(lastJson<{ files: unknown[] }>(ls).files.length, 1);
  for (const d of [p1, p2]) t.false(d.lines.some((l) => /broker refused/.test(l)), d.lines.filter((l) => /refused/.test(l)).join('\n'));

  // the dashboard role: it sees the swarm, the download and the chunk availability it asked for
  const dash = await startDaemon(scope, ['dashboard', '--nats', url, '--port', '0', '--log-file', join(root, 'dashboard.jsonl'), '--log-level', 'debug'], { ready: /dashboard ready at/, env: as('dashboard') });
  const at = dash.lines.map((l) => /dashboard ready at (\S+)/.exec(l)?.[1]).find(Boolean)!;
  let state: { peers: Array<{ peerId: string }>; downloads: Array<{ name?: string; status: string }>; files: Array<{ name: string }> } | undefined;
  for (const deadline = Date.now() + 20_000; Date.now() < deadline; await new Promise((res) => setTimeout(res, 250))) {
    state = (await (await fetch(new URL('/api/state', at))).json()) as typeof state;
    if (state!.peers.length === 2 && state!.downloads.some((d) => d.status === 'done') && state!.files.length === 1) break;
  }
  t.deepEqual(state!.peers.map((p) => p.peerId).sort(), ['peer1', 'peer2']);
  t.true(state!.downloads.some((d) => d.name === 'secret-plans.bin' && d.status === 'done'), JSON.stringify(state!.downloads));
  const log = await readFile(join(root, 'dashboard.jsonl'), 'utf8');
  t.notRegex(log, /[Pp]ermissions [Vv]iolation|PERMISSION_DENIED|refused/);
});

async function asUser(user: keyof typeof users): Promise<NatsConnection> {
  const nc = await connect({ servers: url, user: users[user].P2P_NATS_USER, pass: users[user].P2P_NATS_PASS, inboxPrefix: `_INBOX_${user}` });
  scope.teardown(() => nc.close());
  return nc;
}

/** Resolves with the broker's error for a subscription it refuses (or 'allowed'). */
async function trySubscribe(nc: NatsConnection, subject: string): Promise<string> {
  return new Promise((resolve) => {
    const sub = nc.subscribe(subject, { callback: (err) => resolve(err ? String((err as { code?: string }).code) : 'message') });
    nc.flush()
      .then(() => new Promise((r) => setTimeout(r, 300)))
      .then(() => {
        if (!sub.isClosed()) resolve('allowed');
      })
      .catch(() => undefined);
  });
}

/** Resolves with the broker's error for a publish it refuses (or 'allowed'). */
async function tryPublish(nc: NatsConnection, subject: string): Promise<string> {
  const errors: string[] = [];
  const watch = (async () => {
    for await (const s of nc.status()) if (s.type === 'error') errors.push(String(s.data));
  })();
  nc.publish(subject, new Uint8Array([0xc0]));
  await nc.flush();
  await new Promise((r) => setTimeout(r, 300));
  void watch;
  return errors.some((e) => /PERMISSIONS_VIOLATION|Permissions Violation/i.test(e)) ? 'PERMISSIONS_VIOLATION' : 'allowed';
}

test.serial('a role trying a subject it may not use is refused by the broker', async (t) => {
  const peer2 = await asUser('peer2');
  t.is(await trySubscribe(peer2, 'p2p.peer.peer1.intent'), 'PERMISSIONS_VIOLATION', "a peer cannot read another peer's intents");
  t.is(await trySubscribe(peer2, 'p2p.tracker.lookup'), 'PERMISSIONS_VIOLATION', 'a peer cannot answer as the tracker');
  t.is(await trySubscribe(peer2, '_INBOX_peer1.>'), 'PERMISSIONS_VIOLATION', "a peer cannot read another's replies");
  t.is(await trySubscribe(peer2, 'p2p.peer.peer2.intent'), 'allowed', 'its own intents it can read');
  const peer2b = await asUser('peer2');
  t.is(await tryPublish(peer2b, 'p2p.peer.peer1.progress.dl-x'), 'PERMISSIONS_VIOLATION', 'a peer cannot publish progress as another');
  const peer2c = await asUser('peer2');
  t.is(await tryPublish(peer2c, 'p2p.tracker.hello'), 'PERMISSIONS_VIOLATION', 'a peer cannot speak as the tracker');
  const cli = await asUser('cli');
  t.is(await tryPublish(cli, 'p2p.tracker.announce'), 'PERMISSIONS_VIOLATION', 'the CLI cannot announce');
  const cli2 = await asUser('cli');
  t.is(await trySubscribe(cli2, 'p2p.peer.peer1.intent'), 'PERMISSIONS_VIOLATION', 'the CLI cannot read intents');
  const dash = await asUser('dashboard');
  t.is(await tryPublish(dash, 'p2p.tracker.announce'), 'PERMISSIONS_VIOLATION', 'the dashboard cannot announce');
  const dash2 = await asUser('dashboard');
  t.is(await trySubscribe(dash2, 'p2p.tracker.lookup'), 'PERMISSIONS_VIOLATION', 'the dashboard cannot answer as the tracker');
  const dash3 = await asUser('dashboard');
  t.is(await tryPublish(dash3, 'p2p.avail.' + 'ab'.repeat(32)), 'PERMISSIONS_VIOLATION', 'the dashboard cannot claim chunks');
});
