// Issue 9, class 2 (whose id is it?), against real processes: a private nats-server, the tracker
// and peers as children of the built CLI, and the scriptable hostile peer of test/helpers.
//   - the binding peer id → key survives a tracker restart (memory store: DATA/bindings.json):
//     a squatter announcing under an honest id after the restart is refused;
//   - a second peer started under a running peer's id exits with ID_TAKEN (exit code 6);
//   - messages in a peer's name on the bus are signed: a forged availability query is dropped
//     with a log line, a genuine one is answered with a message signed by the answering peer.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startNats } from '../helpers/nats.js';
import { tempDir } from '../helpers/tmp.js';
import { runCli, startDaemon, type Daemon } from '../helpers/processes.js';
import { Scope } from '../helpers/scope.js';
import { shareFile, HostileBus } from '../helpers/hostile-peer.js';
import { decodeRaw } from '../../src/protocol/codec.js';
import { verifySignature } from '../../src/identity.js';

const scope = new Scope();
test.after.always(() => scope.run());
const prefix = 'hostile9id';
let url = '';
let root = '';
let bus: HostileBus;
let tracker: Daemon;
const startTracker = () =>
  startDaemon(scope, ['tracker', '--nats', url, '--prefix', prefix, '--log-file', join(root, 'tracker', 'tracker.jsonl')], { ready: /tracker ready/ });
const peer = (dir: string, id: string): Promise<Daemon> =>
  startDaemon(scope, ['peer', '--dir', join(root, dir), '--id', id, '--nats', url, '--prefix', prefix], { ready: /peer ready/ });

test.before(async () => {
  const nats = await startNats(scope);
  url = nats.url;
  root = await tempDir(scope, 'p2p-hostile9id-');
  tracker = await startTracker();
  bus = await HostileBus.connect(scope, url, prefix);
});

const share = (id: string, name: string, content: Buffer) => shareFile(root, id, name, content);

const lookup = async (fileId: string) => (await bus.request(bus.s.lookup, { v: 1, fileId })) as { ok: boolean; matches: Array<{ sources: Array<{ peerId: string; endpoint: { port: number } }> }> };

async function logLines(dir: string): Promise<Array<Record<string, unknown>>> {
  const text = await readFile(join(root, dir, '.p2p', 'log.jsonl'), 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function until(check: () => Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test.serial('class 2: the binding of a peer id to its key survives a tracker restart; a squatter under that id is refused after it', async (t) => {
  const f = await share('alice', 'honest.bin', randomBytes(100_000));
  await peer('alice', 'alice');
  await until(async () => (await lookup(f.fileId)).matches.length === 1, 'alice announced');
  // the tracker restarts (memory store): peers are forgotten, bindings are not
  t.is(await tracker.stop('SIGTERM'), 0);
  t.true(existsSync(join(root, 'tracker', 'bindings.json')), 'bindings saved beside the log (the data folder)');
  tracker = await startTracker();
  await tracker.waitFor(/key bindings loaded/);
  // mallory races the honest peer's re-announce under its id, with a lying endpoint
  const squat = await bus.announce('alice', { host: '127.0.0.1', port: 9 }, [f.meta]);
  t.false(squat.ok);
  t.is(squat.code, 'PERMISSION_DENIED');
  // alice re-announces after the hello and is the only source; the squatter's endpoint never shows
  await until(async () => (await lookup(f.fileId)).matches[0]?.sources.length === 1, 'alice re-announced');
  const sources = (await lookup(f.fileId)).matches[0]!.sources;
  t.deepEqual(sources.map((s) => s.peerId), ['alice']);
  t.not(sources[0]!.endpoint.port, 9);
  const key = (await bus.request(bus.s.key, { v: 1, peerId: 'alice' })) as { ok: boolean; key?: string; live: boolean };
  t.true(key.ok && key.live && typeof key.key === 'string' && key.key !== bus.identity.publicKey);
});

test.serial('class 2: a second peer started under a running peer\'s id refuses to start: ID_TAKEN, exit code 6, a clear message', async (t) => {
  await mkdir(join(root, 'alice-twin', 'shared'), { recursive: true });
  const r = await runCli(['peer', '--dir', join(root, 'alice-twin'), '--id', 'alice', '--nats', url, '--prefix', prefix], { timeoutMs: 30_000 });
  t.is(r.code, 6, r.stderr);
  t.regex(r.stderr, /peer id alice is bound to another key at the tracker \(a running peer holds it\)/);
  t.regex(r.stderr, /ID_TAKEN/);
  // the running alice still is the one answering for its id
  const status = await runCli(['status', '--peer', 'alice', '--json', '--nats', url, '--prefix', prefix]);
  t.is(status.code, 0, status.stderr);
});

test.serial('class 2: availability in a peer\'s name must be signed by that peer: forged queries are dropped with a log line, genuine ones answered signed', async (t) => {
  const f = await share('carol', 'held.bin', randomBytes(50_000));
  await peer('carol', 'carol');
  // mallory is a peer of its own (bound to its key) and listens to what carol publishes about the file
  t.true((await bus.announce('mallory', { host: '127.0.0.1', port: 9 }, [])).ok);
  const answers: Array<{ peerId: string; signedBy?: string }> = [];
  bus.nc.subscribe(bus.s.avail(f.fileId), {
    callback: (_e, m) => {
      const msg = decodeRaw(m.data) as { peerId: string };
      let signedBy: string | undefined;
      try {
        signedBy = verifySignature(m.subject, m.data, m.headers).key;
      } catch {
        signedBy = undefined;
      }
      answers.push({ peerId: msg.peerId, signedBy });
    },
  });
  await bus.nc.flush();
  const query = (peerId: string) => ({ v: 1, peerId, fileId: f.fileId });
  // in alice's name: unsigned, then signed with mallory's own key
  bus.publish(bus.s.availQuery(f.fileId), query('alice'));
  bus.publish(bus.s.availQuery(f.fileId), query('alice'), { sign: true });
  await until(async () => (await logLines('carol')).filter((l) => /availability message dropped/.test(String(l.message))).length >= 2, 'carol logged both drops');
  const drops = (await logLines('carol')).filter((l) => /availability message dropped/.test(String(l.message)));
  t.regex(String(drops[0]!.message), /not signed/);
  t.regex(String(drops[1]!.message), /not the peer's/);
  t.is(answers.length, 0, 'carol answered no forged query');
  // in mallory's own name, signed by mallory: carol answers, signed by carol's key
  bus.publish(bus.s.availQuery(f.fileId), query('mallory'), { sign: true });
  await until(async () => answers.length >= 1, 'carol answered');
  const carolKey = ((await bus.request(bus.s.key, { v: 1, peerId: 'carol' })) as { key: string }).key;
  t.deepEqual(answers[0], { peerId: 'carol', signedBy: carolKey });
});
