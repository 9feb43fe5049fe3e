// Stopping a daemon while its broker is gone: `p2p tracker` and `p2p peer` get SIGTERM after the
// nats-server was killed (the LAN's broker host went down first). Each must stop on that one
// signal, exit 0 and say so, not wait forever for a broker that does not come back. With the
// broker there, the same stop drains quietly.
import test from 'ava';
import { join } from 'node:path';
import { startNats, type NatsServerHandle } from '../helpers/nats.js';
import { tempDir } from '../helpers/tmp.js';
import { startDaemon, type Daemon } from '../helpers/processes.js';
import { Scope } from '../helpers/scope.js';

const scope = new Scope();
test.after.always(() => scope.run());

/** Resolves with the exit code, or 'still running' if the one SIGTERM did not end it within `ms`. */
async function exitAfterSigterm(d: Daemon, ms: number): Promise<number | null | 'still running'> {
  const exited = new Promise<number | null>((resolve) => {
    if (d.child.exitCode !== null) resolve(d.child.exitCode);
    else d.child.once('exit', (code) => resolve(code));
  });
  d.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'still running'>((resolve) => (timer = setTimeout(() => resolve('still running'), ms)));
  try {
    return await Promise.race([exited, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** A private nats-server (no JetStream), a tracker and one peer on it. */
async function swarmOf(prefix: string): Promise<{ nats: NatsServerHandle; tracker: Daemon; peer: Daemon }> {
  const nats = await startNats(scope, { jetstream: false });
  const root = await tempDir(scope, 'p2p-stop-');
  const common = ['--nats', nats.url, '--prefix', prefix];
  const tracker = await startDaemon(scope, ['tracker', ...common, '--log-file', join(root, 'tracker.jsonl')], { ready: /tracker ready/ });
  const peer = await startDaemon(scope, ['peer', '--dir', join(root, 'p'), '--id', 'p', ...common], { ready: /peer ready/ });
  return { nats, tracker, peer };
}

test('tracker and peer stop on one SIGTERM when the broker is gone', async (t) => {
  const { nats, tracker, peer } = await swarmOf('stopnb');
  nats.kill('SIGKILL');
  await peer.waitFor(/disconnected from the broker/, 10_000);
  await tracker.waitFor(/disconnected from the broker/, 10_000);

  const started = Date.now();
  const [peerCode, trackerCode] = await Promise.all([exitAfterSigterm(peer, 8000), exitAfterSigterm(tracker, 8000)]);
  t.is(peerCode, 0, `peer: ${peer.lines.slice(-5).join(' | ')}`);
  t.is(trackerCode, 0, `tracker: ${tracker.lines.slice(-5).join(' | ')}`);
  t.true(Date.now() - started < 8000);
  t.true(peer.lines.some((l) => /peer stopped/.test(l)));
  t.true(tracker.lines.some((l) => /tracker stopped/.test(l)));
  t.true(peer.lines.some((l) => /broker .*unreachable|without the broker/.test(l)), 'the peer says it stopped without the broker');
});

test('with the broker up, one SIGTERM drains and stops quietly', async (t) => {
  const { tracker, peer } = await swarmOf('stopok');
  const [peerCode, trackerCode] = await Promise.all([exitAfterSigterm(peer, 8000), exitAfterSigterm(tracker, 8000)]);
  t.is(peerCode, 0);
  t.is(trackerCode, 0);
  t.false([...peer.lines, ...tracker.lines].some((l) => /unreachable/.test(l)), 'no warning when the broker is there');
});
