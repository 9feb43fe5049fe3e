// One conformance suite for every TrackerStore (memory, and JetStream KV on a real nats-server),
// then what only a shared store can do: several instances on one bucket, expiry that never drops
// a peer another instance just heard from, key bindings across instances, state that outlives
// every instance.
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import type { NatsConnection } from 'nats';
import { PeerIdentity, verifySignature } from '../../src/identity.js';
import { createLogger } from '../../src/logger.js';
import { encode } from '../../src/protocol/codec.js';
import { PROTOCOL_VERSION, type AnnounceRequest, type FileMeta, type LookupMatch } from '../../src/protocol/messages.js';
import type { FileEntry } from '../../src/store/registry.js';
import { connectBus } from '../../src/transport/bus.js';
import { KvStore } from '../../src/tracker/kv-store.js';
import { LookupReplyWriter } from '../../src/tracker/lookup-reply.js';
import { MemoryStore, type TrackerStore } from '../../src/tracker/store.js';
import { startNats, type NatsServerHandle } from '../helpers/nats.js';
import { Scope } from '../helpers/scope.js';

const logger = createLogger({ level: 'silent' });
const scope = new Scope();
let nats: NatsServerHandle;
test.before(async () => {
  nats = await startNats(scope);
});
test.after.always(() => scope.run());

async function conn(t: ExecutionContext): Promise<NatsConnection> {
  const nc = await connectBus({ url: nats.url, name: 'store-test', reconnect: false });
  t.teardown(() => nc.close());
  return nc;
}

/** A started KV store on `bucket` (a fresh bucket per test unless given). */
async function kvStore(t: ExecutionContext, bucket: string): Promise<KvStore> {
  const store = new KvStore(await conn(t), logger, { prefix: 'test', bucket });
  t.teardown(() => store.stop());
  await store.start();
  return store;
}
const freshBucket = () => `t-${randomBytes(4).toString('hex')}`;

const implementations: Array<{ name: string; make(t: ExecutionContext): Promise<TrackerStore> }> = [
  { name: 'memory', make: async () => new MemoryStore() },
  { name: 'kv', make: (t) => kvStore(t, freshBucket()) },
];

function file(n: number, name = `file-${n}.bin`): FileMeta {
  return { fileId: n.toString(16).padStart(64, '0'), name, size: 4096 * n, chunkSize: 4096, chunkCount: n };
}
function ann(peerId: string, port: number, files: FileMeta[], extra: Partial<AnnounceRequest> = {}): AnnounceRequest {
  return { v: PROTOCOL_VERSION, peerId, endpoint: { host: '10.0.0.1', port }, replace: true, files, removed: [], ...extra };
}
const sources = (s: TrackerStore, n: number) => (s.lookupById(file(n).fileId)?.sources ?? []).map((x) => x.peerId).sort();
const signer = (id: PeerIdentity, ts: number) => verifySignature('s', new Uint8Array(), id.sign('s', new Uint8Array(), ts), ts);

for (const impl of implementations) {
  const conf = (title: string, fn: (t: ExecutionContext, s: TrackerStore) => Promise<void>) =>
    test(`[${impl.name}] ${title}`, async (t) => fn(t, await impl.make(t)));

  conf('announce: new peer joins once; lookups by id and name; list counts sources', async (t, s) => {
    t.true(await s.announce(ann('alice', 1, [file(1, 'movie.mkv'), file(2, 'a.txt')]), 1000));
    t.false(await s.announce(ann('alice', 1, [file(1, 'movie.mkv'), file(2, 'a.txt')]), 1001));
    t.true(await s.announce(ann('bob', 2, [file(1, 'movie.mkv')]), 1002));
    t.deepEqual(sources(s, 1), ['alice', 'bob']);
    t.deepEqual(s.lookupById(file(1).fileId)!.file, file(1, 'movie.mkv'));
    t.deepEqual(s.lookupByName('movie.mkv').map((m) => [m.file.fileId, m.sources.length]), [[file(1).fileId, 2]]);
    t.deepEqual(s.lookupByName('nothing'), []);
    t.is(s.lookupById(file(9).fileId), undefined);
    // the tracker's reply, written from the entries in place, is the lookup's objects encoded
    const written = (files: FileEntry[]) => Buffer.from(new LookupReplyWriter({ maxSourcesPerMatch: 1000 }).write(files).reply.bytes);
    const reply = (matches: LookupMatch[]) => Buffer.from(encode({ v: PROTOCOL_VERSION, ok: true, matches }));
    t.deepEqual(written([s.fileById(file(1).fileId)!]), reply([s.lookupById(file(1).fileId)!]));
    t.deepEqual(written(s.filesByName('movie.mkv')), reply(s.lookupByName('movie.mkv')));
    t.deepEqual(s.filesByName('nothing'), []);
    const page = s.list(0, 10);
    t.is(page.total, 2);
    t.deepEqual(page.files.map((f) => [f.name, f.sources]), [['a.txt', 1], ['movie.mkv', 2]]);
    t.is(s.peerCount(), 2);
    t.is(s.peer('alice')!.lastSeen, 1001);
  });

  conf('announce: replace forgets what is not listed, increments add, removed drops', async (t, s) => {
    await s.announce(ann('alice', 1, [file(1), file(2)]), 1000);
    await s.announce(ann('alice', 1, [file(3)], { replace: false }), 1001);
    t.deepEqual([1, 2, 3].map((n) => sources(s, n).length), [1, 1, 1]);
    await s.announce(ann('alice', 1, [], { replace: false, removed: [file(2).fileId] }), 1002);
    t.is(s.lookupById(file(2).fileId), undefined, 'a file with no source left is gone');
    await s.announce(ann('alice', 1, [file(4)]), 1003);
    t.deepEqual([1, 3, 4].map((n) => sources(s, n).length), [0, 0, 1]);
  });

  conf('heartbeat: unknown peers are told so; known ones get endpoint and lastSeen refreshed', async (t, s) => {
    t.false(await s.heartbeat('stranger', { host: '10.0.0.9', port: 9 }, 1000));
    await s.announce(ann('alice', 1, [file(1)]), 1000);
    t.true(await s.heartbeat('alice', { host: '10.0.0.2', port: 7 }, 2000));
    t.deepEqual(s.lookupById(file(1).fileId)!.sources[0]!.endpoint, { host: '10.0.0.2', port: 7 });
    t.is(s.peer('alice')!.lastSeen, 2000);
  });

  conf('expire drops the silent once, keeps the fresh; drop forgets at once', async (t, s) => {
    await s.announce(ann('alice', 1, [file(1)]), 1000);
    await s.announce(ann('bob', 2, [file(1), file(2)]), 1000);
    await s.heartbeat('bob', { host: '10.0.0.1', port: 2 }, 5000);
    t.deepEqual(await s.expire(5500, 1000), ['alice']);
    t.deepEqual(await s.expire(5500, 1000), [], 'idempotent');
    t.deepEqual(sources(s, 1), ['bob']);
    t.false(await s.heartbeat('alice', { host: '10.0.0.1', port: 1 }, 5600));
    t.true(await s.drop('bob'));
    t.false(await s.drop('bob'));
    t.is(s.peerCount(), 0);
    t.is(s.list(0, 10).total, 0);
  });

  conf('bind: a peer id belongs to the first key; other keys and replays are refused', async (t, s) => {
    const alice = PeerIdentity.ephemeral();
    const mallory = PeerIdentity.ephemeral();
    await s.bind('alice', signer(alice, 1000));
    const second = signer(alice, 1001);
    await s.bind('alice', second);
    await t.throwsAsync(s.bind('alice', signer(mallory, 1002)), { message: /belongs to another identity/ });
    await t.throwsAsync(s.bind('alice', second), { message: /replayed/ });
    await s.bind('mallory', signer(mallory, 1003));
  });

  conf('many peers and files: lookups stay indexed', async (t, s) => {
    for (let p = 0; p < 40; p++) await s.announce(ann(`p${p}`, p + 1, [file(1, 'same.bin'), file(100 + p, 'same.bin')]), 1000);
    const byName = s.lookupByName('same.bin');
    t.is(byName.length, 41);
    t.is(byName[0]!.sources.length, 40, 'most sources first');
    t.is(s.list(10, 5).files.length, 5);
  });
}

/** Poll until `check` holds (a watch delivers within milliseconds). */
async function eventually(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('[kv] two instances on one bucket: an announce through one is seen by the other; heartbeats through either count', async (t) => {
  const bucket = freshBucket();
  const a = await kvStore(t, bucket);
  const b = await kvStore(t, bucket);
  t.true(await a.announce(ann('alice', 1, [file(1)]), Date.now()));
  // the other instance knows at once when asked to write, and its view follows the watch
  t.true(await b.heartbeat('alice', { host: '10.0.0.1', port: 1 }, Date.now()));
  await eventually(() => sources(b, 1).length === 1, 'b to see alice');
  t.false(await b.announce(ann('alice', 1, [file(1), file(2)]), Date.now()), 'not a new peer for b either');
  await eventually(() => sources(a, 2).length === 1, 'a to see file 2');
});

test('[kv] expiry on several instances drops a silent peer exactly once and never one another instance just heard from', async (t) => {
  const bucket = freshBucket();
  const a = await kvStore(t, bucket);
  const b = await kvStore(t, bucket);
  for (const id of ['quiet', 'chatty']) await a.announce(ann(id, 1, [file(1)]), 1000);
  await eventually(() => b.peerCount() === 2 && a.peerCount() === 2, 'both views');
  // b hears from chatty; a, at once, sweeps with a view that may still say chatty is silent
  const [, dropsA, dropsB] = await Promise.all([
    b.heartbeat('chatty', { host: '10.0.0.1', port: 1 }, 9000),
    a.expire(9000, 1000),
    b.expire(9000, 1000),
  ]);
  const dropped = [...dropsA, ...dropsB].sort();
  t.true(!dropped.includes('chatty') || dropped.filter((x) => x === 'chatty').length === 1);
  t.is(dropped.filter((x) => x === 'quiet').length, 1, 'quiet dropped once');
  // whoever won, the heartbeat is never undone by a stale sweep: chatty is either live or told to re-announce
  const chattyLive = await a.heartbeat('chatty', { host: '10.0.0.1', port: 1 }, 9100);
  t.is(chattyLive, !dropped.includes('chatty'));
  await eventually(() => !a.peer('quiet') && !b.peer('quiet'), 'quiet gone everywhere');
  // deterministic version of the race: a sweeps at a revision b has since moved past
  await a.announce(ann('late', 1, [file(1)]), 1000);
  await eventually(() => Boolean(b.peer('late')), 'b sees late');
  const staleA = new KvStore(await conn(t), logger, { prefix: 'test', bucket });
  await staleA.start();
  t.teardown(() => staleA.stop());
  await staleA.stop(); // its view is frozen at late@1000
  await b.heartbeat('late', { host: '10.0.0.1', port: 1 }, 20_000);
  t.false((await staleA.expire(20_000, 1000)).includes('late'), 'a stale view cannot drop a peer heard from since');
  await eventually(() => a.peer('late')?.lastSeen === 20_000, 'late still there, refreshed');
});

test('[kv] key bindings hold across instances', async (t) => {
  const bucket = freshBucket();
  const a = await kvStore(t, bucket);
  const b = await kvStore(t, bucket);
  const alice = PeerIdentity.ephemeral();
  const mallory = PeerIdentity.ephemeral();
  await a.bind('alice', signer(alice, 1000));
  await t.throwsAsync(b.bind('alice', signer(mallory, 1001)), { message: /belongs to another identity/ });
  await b.bind('alice', signer(alice, 1002));
});

test('[kv] state survives every instance stopping: a new one answers lookups and checks bindings as soon as it started', async (t) => {
  const bucket = freshBucket();
  const alice = PeerIdentity.ephemeral();
  {
    const a = await kvStore(t, bucket);
    await a.bind('alice', signer(alice, 1000));
    await a.announce(ann('alice', 1, [file(1, 'kept.bin')]), Date.now());
    await a.announce(ann('bob', 2, [file(1, 'kept.bin')]), Date.now());
    await a.drop('bob');
    await a.stop();
  }
  const c = await kvStore(t, bucket);
  t.deepEqual(sources(c, 1), ['alice'], 'answered from KV right after start, bob stays dropped');
  t.deepEqual(c.lookupByName('kept.bin').length, 1);
  await t.throwsAsync(c.bind('alice', signer(PeerIdentity.ephemeral(), 2000)), { message: /another identity/ });
});

/** The bucket's newest entry under `key` (undefined: never written). */
async function entry(t: ExecutionContext, bucket: string, key: string) {
  const kv = await (await conn(t)).jetstream().views.kv(bucket, { bindOnly: true });
  return (await kv.get(key)) ?? undefined;
}

test('[kv] a heartbeat rewrites only the small peer record; the file list is written when an announce changes it', async (t) => {
  const bucket = freshBucket();
  const a = await kvStore(t, bucket);
  const b = await kvStore(t, bucket);
  const many = Array.from({ length: 100 }, (_, i) => file(i + 1));
  await a.announce(ann('alice', 1, many), 1000);
  const list1 = (await entry(t, bucket, 'files.alice'))!;
  t.true(list1.length > 100 * 64, 'the list holds the 100 files');
  await a.heartbeat('alice', { host: '10.0.0.2', port: 7 }, 2000);
  await b.heartbeat('alice', { host: '10.0.0.2', port: 7 }, 3000);
  const record = (await entry(t, bucket, 'peer.alice'))!;
  t.true(record.length < 200, `a heartbeat wrote ${record.length} bytes`);
  t.is((await entry(t, bucket, 'files.alice'))!.revision, list1.revision, 'heartbeats leave the list alone');
  // a re-announce of the same files (a hello, a `known: false`) writes the record only
  await b.announce(ann('alice', 7, many), 4000);
  t.is((await entry(t, bucket, 'files.alice'))!.revision, list1.revision, 'the same files are not written again');
  await eventually(() => a.peer('alice')?.lastSeen === 4000 && sources(a, 100).length === 1, 'a to see the re-announce');
  t.deepEqual(a.peer('alice')!.endpoint, { host: '10.0.0.1', port: 7 }, 'the re-announce moved it');
  // a change is written, and every instance's view follows it
  await b.announce(ann('alice', 7, [file(5)], { replace: false, removed: [file(100).fileId] }), 5000);
  t.true((await entry(t, bucket, 'files.alice'))!.revision > list1.revision);
  await eventually(() => sources(a, 100).length === 0 && sources(a, 99).length === 1, 'a to see file 100 removed');
  t.is(a.peer('alice')!.files.length, 99);
});

test('[kv] a record from before the split (files inside it) is read and kept by heartbeats; the next announce moves its files out', async (t) => {
  const bucket = freshBucket();
  const first = await kvStore(t, bucket); // creates the bucket
  const kv = await (await conn(t)).jetstream().views.kv(bucket, { bindOnly: true });
  await kv.put('peer.old', encode({ endpoint: { host: '10.0.0.9', port: 9 }, lastSeen: Date.now(), files: [file(1), file(2)] }));
  await eventually(() => sources(first, 2).length === 1, 'the running view to read the old record');
  const s = await kvStore(t, bucket);
  t.deepEqual(sources(s, 1), ['old'], 'a new instance loads it');
  t.true(await s.heartbeat('old', { host: '10.0.0.9', port: 9 }, Date.now()));
  t.deepEqual(sources(s, 2), ['old'], 'its files survive a heartbeat');
  await s.announce(ann('old', 9, [file(1), file(2)]), Date.now());
  t.true((await entry(t, bucket, 'peer.old'))!.length < 200, 'the record is small once announced again');
  t.truthy(await entry(t, bucket, 'files.old'));
  const c = await kvStore(t, bucket);
  t.deepEqual([sources(c, 1), sources(c, 2)], [['old'], ['old']]);
});

test('[kv] a dropped or expired peer takes its file list with it; a list re-announced since stays', async (t) => {
  const bucket = freshBucket();
  const s = await kvStore(t, bucket);
  await s.announce(ann('gone', 1, [file(1)]), 1000);
  await s.announce(ann('bye', 2, [file(2)]), 1000);
  t.deepEqual(await s.expire(1000 + 60_000, 1000), ['gone', 'bye']);
  t.is((await entry(t, bucket, 'files.gone'))!.operation, 'DEL');
  t.is((await entry(t, bucket, 'files.bye'))!.operation, 'DEL');
  // back again: a fresh list and record, found as before
  t.true(await s.announce(ann('gone', 1, [file(3)]), 70_000));
  t.deepEqual(sources(s, 3), ['gone']);
  const c = await kvStore(t, bucket);
  t.deepEqual([sources(c, 1), sources(c, 3)], [[], ['gone']]);
});

test('[kv] an announce racing the expiry of its own peer never leaves a record without its list', async (t) => {
  const bucket = freshBucket();
  const a = await kvStore(t, bucket);
  await a.announce(ann('racer', 1, [file(1), file(2)]), 1000);
  // a view frozen with racer and its list in it, as a busy instance's watch would lag
  const stale = new KvStore(await conn(t), logger, { prefix: 'test', bucket });
  await stale.start();
  t.teardown(() => stale.stop());
  await stale.stop();
  // meanwhile another instance drops racer: its record and its list go
  t.deepEqual(await a.expire(60_000, 1000), ['racer']);
  // the same files again through the stale view: it must write the list anew, not point at the deleted one
  t.true(await stale.announce(ann('racer', 1, [file(1), file(2)]), 61_000) === false, 'the stale view thought it known');
  t.is((await entry(t, bucket, 'files.racer'))!.operation, 'PUT');
  const c = await kvStore(t, bucket);
  t.deepEqual([sources(c, 1), sources(c, 2)], [['racer'], ['racer']]);
});
