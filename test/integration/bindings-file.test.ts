// The memory store's key bindings on disk (src/tracker/bindings-file.ts, issue 9 class 2): a
// binding made by one MemoryStore is enforced by the next one started on the same data folder,
// replays stay refused across the restart, bad entries are skipped, and a file that is not a
// bindings file stops the start instead of silently starting with no bindings.
import test from 'ava';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PeerIdentity, type Signer } from '../../src/identity.js';
import { MemoryStore } from '../../src/tracker/store.js';

async function dataDir(t: import('ava').ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'p2p-bindings-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}
const signer = (id: PeerIdentity, ts: number): Signer => ({ key: id.publicKey, ts });

test('a binding outlives the store: the next store on the same folder refuses another key and replays', async (t) => {
  const dir = await dataDir(t);
  const alice = PeerIdentity.ephemeral();
  const mallory = PeerIdentity.ephemeral();
  const first = new MemoryStore({ dataDir: dir });
  await first.start();
  await first.bind('alice', signer(alice, 1000));
  await first.bind('alice', signer(alice, 2000));
  await first.stop();
  const saved = JSON.parse(await readFile(join(dir, 'bindings.json'), 'utf8')) as { v: number; bindings: unknown[] };
  t.deepEqual(saved, { v: 1, bindings: [['alice', alice.publicKey, 2000]] });

  const second = new MemoryStore({ dataDir: dir });
  await second.start();
  t.is(second.boundKey('alice'), alice.publicKey);
  await t.throwsAsync(second.bind('alice', signer(mallory, 3000)), { code: 'PERMISSION_DENIED', message: /belongs to another identity/ });
  await t.throwsAsync(second.bind('alice', signer(alice, 2000)), { code: 'PERMISSION_DENIED', message: /replayed/ });
  await t.notThrowsAsync(second.bind('alice', signer(alice, 3001)));
  // without a data folder nothing is kept (the old behaviour, for tests and embedding)
  const bare = new MemoryStore();
  await bare.start();
  await t.notThrowsAsync(bare.bind('alice', signer(mallory, 1)));
});

test('new bindings are saved within the flush interval, without waiting for stop', async (t) => {
  const dir = await dataDir(t);
  const store = new MemoryStore({ dataDir: dir, flushMs: 50 });
  await store.start();
  const bob = PeerIdentity.ephemeral();
  await store.bind('bob', signer(bob, 5));
  await new Promise((r) => setTimeout(r, 300));
  const saved = JSON.parse(await readFile(join(dir, 'bindings.json'), 'utf8')) as { bindings: unknown[] };
  t.deepEqual(saved.bindings, [['bob', bob.publicKey, 5]]);
  await store.stop();
});

test('bad entries are skipped; a file that is not a bindings file stops the start', async (t) => {
  const dir = await dataDir(t);
  const carol = PeerIdentity.ephemeral();
  await writeFile(join(dir, 'bindings.json'), JSON.stringify({ v: 1, bindings: [['carol', carol.publicKey, 7], ['bad id!', carol.publicKey, 1], ['dave', 'short', 1], 'junk'] }));
  const store = new MemoryStore({ dataDir: dir });
  await store.start();
  t.is(store.boundKey('carol'), carol.publicKey);
  t.is(store.boundKey('dave'), undefined);
  await writeFile(join(dir, 'bindings.json'), '{"not": "bindings"');
  await t.throwsAsync(new MemoryStore({ dataDir: dir }).start(), { message: /is not a bindings file/ });
});

test('stop saves the newest timestamps: a message replayed after the restart is refused', async (t) => {
  const dir = await dataDir(t);
  const erin = PeerIdentity.ephemeral();
  const first = new MemoryStore({ dataDir: dir, flushMs: 10 });
  await first.start();
  await first.bind('erin', signer(erin, 100));
  await new Promise((r) => setTimeout(r, 100)); // saved with ts 100
  await first.bind('erin', signer(erin, 200)); // no new binding: only the timestamp moves
  await first.stop();
  const second = new MemoryStore({ dataDir: dir });
  await second.start();
  await t.throwsAsync(second.bind('erin', signer(erin, 150)), { message: /replayed/ });
});
