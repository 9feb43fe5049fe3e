// The clustered bus on this machine: `p2p up --cluster 3` end to end, and the shipped
// config/nats-cluster files (routes, JetStream, per-role permissions) forming a cluster on which a
// KV tracker with 3 replicas, two peers and the CLI each work under their own user.
import test from 'ava';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { natsBinary, startNats } from '../helpers/nats.js';
import { lastJson, runCli, startDaemon } from '../helpers/processes.js';
import type { Teardown } from '../helpers/scope.js';
import { freePort } from '../helpers/ports.js';
import { tempDir } from '../helpers/tmp.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const CONF = new URL('../../config/nats-cluster/', import.meta.url);

/** nats-server -c FILE, killed in teardown; resolves when ready. */
async function natsNode(t: Teardown, file: string): Promise<void> {
  const child = spawn(natsBinary()!, ['-c', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  const onExit = () => child.kill('SIGKILL');
  process.once('exit', onExit);
  t.teardown(() => {
    process.removeListener('exit', onExit);
    child.kill('SIGKILL');
  });
  const lines: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${file} not ready:\n${lines.join('\n')}`)), 15_000);
    createInterface({ input: child.stderr! }).on('line', (l) => {
      lines.push(l);
      if (/Server is ready/.test(l)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`${file} exited ${code}:\n${lines.join('\n')}`)));
  });
}

test('p2p up --cluster 3: a 3-node cluster, a KV tracker, peers, and the demo download', async (t) => {
  const dir = await tempDir(t, 'p2p-upc-');
  const r = await runCli(['up', '--cluster', '3', '--peers', '2', '--demo', '--exit', '--dir', dir], { timeoutMs: 90_000 });
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /started a 3-node NATS cluster at nats:\/\/127\.0\.0\.1:\d+,nats:\/\/127\.0\.0\.1:\d+,nats:\/\/127\.0\.0\.1:\d+/);
  t.regex(r.stdout, /downloaded and verified/);
  t.regex(r.stderr, /tracker started .*store=kv/);
});

/** The shipped node configs and permissions, on free loopback ports, written to `dir`. */
async function clusterConfs(t: Teardown & { notRegex(s: string, re: RegExp): void }, dir: string): Promise<{ files: Map<string, string>; urls: string }> {
  const nodes = ['a', 'b', 'c'];
  const ports = new Map<string, { client: number; route: number }>();
  for (const n of nodes) ports.set(n, { client: await freePort(), route: await freePort() });
  await writeFile(join(dir, 'permissions.conf'), await readFile(new URL('permissions.conf', CONF), 'utf8'));
  const files = new Map<string, string>();
  for (const n of nodes) {
    let conf = await readFile(new URL(`node-${n}.conf`, CONF), 'utf8');
    const p = ports.get(n)!;
    conf = conf
      .replace('listen: 0.0.0.0:4222', `listen: 127.0.0.1:${p.client}`)
      .replace('listen: 0.0.0.0:6222', `listen: 127.0.0.1:${p.route}`)
      .replace(/\/var\/lib\/nats-server/, join(dir, `js-${n}`));
    for (const m of nodes) conf = conf.replace(`nats-route://nats-${m}:6222`, `nats-route://127.0.0.1:${ports.get(m)!.route}`);
    t.notRegex(conf, /nats-[abc]:6222|0\.0\.0\.0/);
    files.set(n, join(dir, `node-${n}.conf`));
    await writeFile(files.get(n)!, conf);
  }
  return { files, urls: nodes.map((n) => `nats://127.0.0.1:${ports.get(n)!.client}`).join(',') };
}

const as = (user: string) => ({ P2P_NATS_USER: user, P2P_NATS_PASS: `change-me-${user}` });

/** A console line of the broker refusing an operation of this identity (bus.ts watchConnection: a permissions violation). */
const deniedARight = (line: string) => /broker refused an operation|permissions? violation/i.test(line);

test('the shipped cluster configs: routes, JetStream R3 KV for the tracker, every role under its own user', async (t) => {
  const dir = await tempDir(t, 'p2p-ncl-');
  const { files, urls } = await clusterConfs(t, dir);
  await Promise.all([...files.values()].map((f) => natsNode(t, f)));
  const tracker = await startDaemon(t, ['tracker', '--nats', urls, '--store', 'kv', '--replicas', '3', '--log-file', join(dir, 'tracker.jsonl')], {
    ready: /tracker ready/,
    env: as('tracker'),
    timeoutMs: 30_000,
  });
  t.false(tracker.lines.some(deniedARight), tracker.lines.join('\n'));
  const content = randomBytes(300_000);
  await mkdir(join(dir, 'peer1', 'shared'), { recursive: true });
  await writeFile(join(dir, 'peer1', 'shared', 'c.bin'), content);
  await startDaemon(t, ['peer', '--dir', join(dir, 'peer1'), '--id', 'peer1', '--nats', urls], { ready: /peer ready/, env: as('peer1') });
  await startDaemon(t, ['peer', '--dir', join(dir, 'peer2'), '--id', 'peer2', '--nats', urls], { ready: /peer ready/, env: as('peer2') });
  const got = await runCli(['get', 'c.bin', '--peer', 'peer2', '--json', '--nats', urls], { env: as('cli') });
  t.is(got.code, 0, got.stderr);
  t.is(sha(await readFile(lastJson<{ path: string }>(got).path)), sha(content));
  t.false(tracker.lines.some(deniedARight), `the tracker needed no right it does not have:\n${tracker.lines.filter(deniedARight).join('\n')}`);
  // a request the tracker itself refused (e.g. a KV write while the new R3 stream elects its
  // leader; the peer announces again) is not a missing right: shown, not failed on
  for (const l of tracker.lines.filter((x) => /request refused/.test(x))) t.log(l);
});

test('a KV tracker started before its cluster has a quorum waits, says so, and is ready once the cluster is', async (t) => {
  const dir = await tempDir(t, 'p2p-nqu-');
  const { files, urls } = await clusterConfs(t, dir);
  // one node of three: JetStream has no meta leader, so the bucket cannot be made yet
  await natsNode(t, files.get('a')!);
  const args = ['tracker', '--nats', urls, '--store', 'kv', '--replicas', '3', '--log-file', join(dir, 'tracker.jsonl')];
  const tracker = await startDaemon(t, args, { ready: /JetStream not ready, still trying/, env: as('tracker'), timeoutMs: 60_000 });
  t.false(tracker.lines.some((l) => /tracker ready/.test(l)));
  await Promise.all(['b', 'c'].map((n) => natsNode(t, files.get(n)!)));
  await tracker.waitFor(/tracker ready/, 90_000);
  t.is(tracker.child.exitCode, null, 'the tracker did not give up');
  // and it serves: a peer announces through it, the CLI lists the file
  await mkdir(join(dir, 'peer1', 'shared'), { recursive: true });
  await writeFile(join(dir, 'peer1', 'shared', 'q.bin'), randomBytes(10_000));
  await startDaemon(t, ['peer', '--dir', join(dir, 'peer1'), '--id', 'peer1', '--nats', urls], { ready: /peer ready/, env: as('peer1') });
  const ls = await runCli(['ls', '--nats', urls], { env: as('cli') });
  t.is(ls.code, 0, ls.stderr);
  t.regex(ls.stdout, /q\.bin/);
});

test('a KV tracker on a broker without JetStream says so and exits, rather than wait forever', async (t) => {
  const dir = await tempDir(t, 'p2p-nojs-');
  const nats = await startNats(t, { jetstream: false });
  const r = await runCli(['tracker', '--nats', nats.url, '--store', 'kv', '--log-file', join(dir, 'tracker.jsonl')], { timeoutMs: 60_000 });
  t.is(r.code, 1, r.stderr);
  t.regex(r.stderr, /no JetStream answers \(started with -js\?\), still trying/);
  t.regex(r.stderr, /p2p: kv bucket \S+: the NATS broker has no JetStream .*start nats-server with -js, or use --store memory/);
});
