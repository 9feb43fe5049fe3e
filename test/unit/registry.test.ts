// MemoryRegistry: announce (merge, replace, removed), heartbeat, expiry, drop, lookups by id and
// name, list paging, and files leaving the index with their last source.
import test from 'ava';
import { MemoryRegistry } from '../../src/store/registry.js';
import { PROTOCOL_VERSION, type AnnounceRequest, type FileMeta } from '../../src/protocol/messages.js';

function file(n: number, name = `file-${n}.bin`): FileMeta {
  return { fileId: n.toString(16).padStart(64, '0'), name, size: 1000 * n, chunkSize: 1024, chunkCount: n };
}

function announce(peerId: string, files: FileMeta[], extra: Partial<AnnounceRequest> = {}): AnnounceRequest {
  return { v: PROTOCOL_VERSION, peerId, endpoint: { host: '127.0.0.1', port: 7000 }, replace: false, files, removed: [], ...extra };
}

const sourceIds = (r: MemoryRegistry, n: number) => r.lookupById(file(n).fileId)?.sources.map((s) => s.peerId).sort();

test('announce adds the peer and its files; a second peer becomes a second source', (t) => {
  const r = new MemoryRegistry();
  t.true(r.announce(announce('alice', [file(1), file(2)]), 0));
  t.false(r.announce(announce('alice', [file(1)]), 1), 'known peer is not new');
  t.true(r.announce(announce('bob', [file(1)], { endpoint: { host: '10.0.0.2', port: 7001 } }), 2));
  t.is(r.peerCount(), 2);
  t.deepEqual(sourceIds(r, 1), ['alice', 'bob']);
  t.deepEqual(sourceIds(r, 2), ['alice']);
  const match = r.lookupById(file(1).fileId)!;
  t.deepEqual(match.file, file(1));
  t.deepEqual(match.sources.find((s) => s.peerId === 'bob')?.endpoint, { host: '10.0.0.2', port: 7001 });
  t.is(r.lookupById(file(9).fileId), undefined);
});

test('merge keeps earlier files; replace forgets the ones not listed', (t) => {
  const r = new MemoryRegistry();
  r.announce(announce('alice', [file(1)]), 0);
  r.announce(announce('alice', [file(2)]), 0);
  t.deepEqual([...r.peer('alice')!.files].sort(), [file(1).fileId, file(2).fileId]);
  r.announce(announce('alice', [file(2), file(3)], { replace: true }), 0);
  t.deepEqual([...r.peer('alice')!.files].sort(), [file(2).fileId, file(3).fileId]);
  t.is(r.lookupById(file(1).fileId), undefined, 'sole source replaced it away');
  t.deepEqual(sourceIds(r, 2), ['alice']);
});

test('removed drops files, and wins over the same id in files', (t) => {
  const r = new MemoryRegistry();
  r.announce(announce('alice', [file(1), file(2)]), 0);
  r.announce(announce('bob', [file(1)]), 0);
  r.announce(announce('alice', [file(3)], { removed: [file(1).fileId, file(3).fileId] }), 0);
  t.deepEqual(sourceIds(r, 1), ['bob']);
  t.is(r.lookupById(file(3).fileId), undefined);
  t.deepEqual([...r.peer('alice')!.files], [file(2).fileId]);
  // removing something never announced is harmless
  r.announce(announce('alice', [], { removed: [file(42).fileId] }), 0);
  t.deepEqual(sourceIds(r, 2), ['alice']);
});

test('heartbeat refreshes a known peer and its endpoint, and refuses an unknown one', (t) => {
  const r = new MemoryRegistry();
  t.false(r.heartbeat('ghost', { host: 'h', port: 1 }, 5));
  t.is(r.peerCount(), 0, 'a heartbeat does not create a peer');
  r.announce(announce('alice', [file(1)]), 0);
  t.true(r.heartbeat('alice', { host: '127.0.0.9', port: 9999 }, 50));
  t.is(r.peer('alice')!.lastSeen, 50);
  t.deepEqual(r.lookupById(file(1).fileId)!.sources[0]!.endpoint, { host: '127.0.0.9', port: 9999 });
});

test('expire drops only peers silent longer than the ttl, with their sources', (t) => {
  const r = new MemoryRegistry();
  r.announce(announce('alice', [file(1), file(2)]), 0);
  r.announce(announce('bob', [file(1)]), 0);
  r.heartbeat('bob', { host: '127.0.0.1', port: 7000 }, 900);
  t.deepEqual(r.expire(1000, 1000), [], 'exactly ttl old is still alive');
  t.deepEqual(r.expire(1001, 1000), ['alice']);
  t.is(r.peer('alice'), undefined);
  t.deepEqual(sourceIds(r, 1), ['bob']);
  t.is(r.lookupById(file(2).fileId), undefined, 'file gone with its last source');
  t.deepEqual(r.lookupByName('file-2.bin'), []);
  t.deepEqual(r.expire(5000, 1000), ['bob']);
  t.is(r.peerCount(), 0);
  t.deepEqual(r.list(0, 100), { total: 0, files: [] });
});

test('drop removes the peer everywhere and reports whether it was known', (t) => {
  const r = new MemoryRegistry();
  r.announce(announce('alice', [file(1), file(2)]), 0);
  r.announce(announce('bob', [file(2)]), 0);
  t.true(r.drop('alice'));
  t.false(r.drop('alice'));
  t.is(r.lookupById(file(1).fileId), undefined);
  t.deepEqual(sourceIds(r, 2), ['bob']);
  t.is(r.peerCount(), 1);
});

test('lookup by name is exact and puts most sources first', (t) => {
  const r = new MemoryRegistry();
  const a = file(1, 'report.pdf');
  const b = file(2, 'report.pdf');
  r.announce(announce('p1', [a, b]), 0);
  r.announce(announce('p2', [b]), 0);
  r.announce(announce('p3', [b, file(3, 'Report.pdf')]), 0);
  const matches = r.lookupByName('report.pdf');
  t.deepEqual(
    matches.map((m) => [m.file.fileId, m.sources.length]),
    [
      [b.fileId, 3],
      [a.fileId, 1],
    ],
  );
  t.deepEqual(r.lookupByName('report'), []);
  t.is(r.lookupByName('Report.pdf').length, 1);
  r.drop('p2');
  r.drop('p3');
  t.deepEqual(
    r.lookupByName('report.pdf').map((m) => m.file.fileId),
    [a.fileId, b.fileId],
    'ties broken by fileId',
  );
});

test('a file keeps its first meta but is found under every announced name', (t) => {
  const r = new MemoryRegistry();
  r.announce(announce('p1', [file(1, 'first.txt')]), 0);
  r.announce(announce('p2', [file(1, 'second.txt')]), 0);
  t.is(r.lookupById(file(1).fileId)!.file.name, 'first.txt');
  t.is(r.lookupByName('second.txt')[0]?.file.fileId, file(1).fileId);
  t.is(r.lookupByName('first.txt')[0]?.sources.length, 2);
  r.drop('p1');
  r.drop('p2');
  t.deepEqual(r.lookupByName('second.txt'), [], 'names leave with the last source');
  // announced again by someone else: now that peer's meta is the first
  r.announce(announce('p3', [file(1, 'third.txt')]), 0);
  t.is(r.lookupById(file(1).fileId)!.file.name, 'third.txt');
  t.deepEqual(r.lookupByName('first.txt'), []);
});

test('list pages by name then fileId with source counts', (t) => {
  const r = new MemoryRegistry();
  // names in reverse of fileId order, plus a duplicated name
  const files = [file(1, 'c'), file(2, 'b'), file(3, 'a'), file(4, 'b')];
  r.announce(announce('p1', files), 0);
  r.announce(announce('p2', [file(2, 'b')]), 0);
  const all = r.list(0, 100);
  t.is(all.total, 4);
  t.deepEqual(
    all.files.map((f) => [f.name, f.fileId, f.sources]),
    [
      ['a', file(3).fileId, 1],
      ['b', file(2).fileId, 2],
      ['b', file(4).fileId, 1],
      ['c', file(1).fileId, 1],
    ],
  );
  t.deepEqual(r.list(1, 2).files.map((f) => f.fileId), [file(2).fileId, file(4).fileId]);
  t.is(r.list(1, 2).total, 4);
  t.deepEqual(r.list(4, 10).files, []);
  t.deepEqual(r.list(10, 10), { total: 4, files: [] });
  // the sorted view follows changes
  r.announce(announce('p3', [file(5, 'aa')]), 0);
  t.deepEqual(r.list(0, 2).files.map((f) => f.name), ['a', 'aa']);
  r.drop('p1');
  t.deepEqual(r.list(0, 10).files.map((f) => [f.name, f.sources]), [['aa', 1], ['b', 1]]);
});

test('scales to 10 000 peers × 100 files', (t) => {
  const r = new MemoryRegistry();
  const shared = Array.from({ length: 1000 }, (_, i) => file(i + 1));
  const started = performance.now();
  for (let p = 0; p < 10_000; p++) {
    // every peer has 100 of the 1000 files
    r.announce(announce(`peer-${p}`, shared.slice((p * 7) % 901, ((p * 7) % 901) + 100)), 0);
  }
  for (let p = 0; p < 5000; p++) r.heartbeat(`peer-${p}`, { host: '127.0.0.1', port: 7000 }, 10);
  t.is(r.peerCount(), 10_000);
  t.is(r.list(0, 1).total, 1000);
  const expired = r.expire(100, 95);
  t.is(expired.length, 5000);
  t.true(r.lookupByName(shared[500]!.name).length === 1);
  const elapsed = performance.now() - started;
  t.log(`10 000 announces of 100 files, 5 000 heartbeats, expiry: ${elapsed.toFixed(0)} ms`);
  // generous: this is orders of magnitude off if anything in the registry scans per operation
  t.true(elapsed < 60_000);
});

test('a replace that names one file twice is not taken for the files the peer holds', (t) => {
  const r = new MemoryRegistry();
  r.announce(announce('alice', [file(1), file(2)]), 0);
  // as many entries as alice holds, every one held: but file 2 is not among them
  r.announce(announce('alice', [file(1), file(1)], { replace: true }), 1);
  t.deepEqual([...r.peer('alice')!.files], [file(1).fileId]);
  t.is(r.lookupById(file(2).fileId), undefined, 'its sole source replaced it away');
  t.deepEqual(sourceIds(r, 1), ['alice']);
});

test('a file with more sources than the flat list holds keeps them all, in order, through drops', (t) => {
  const r = new MemoryRegistry();
  for (let p = 0; p < 60; p++) r.announce(announce(`p${String(p).padStart(2, '0')}`, [file(1)]), p);
  t.is(r.lookupById(file(1).fileId)!.sources.length, 60);
  for (let p = 0; p < 60; p += 2) r.drop(`p${String(p).padStart(2, '0')}`);
  const left = r.lookupById(file(1).fileId)!.sources.map((s) => s.peerId);
  t.deepEqual(left, Array.from({ length: 30 }, (_, i) => `p${String(i * 2 + 1).padStart(2, '0')}`), 'announce order kept');
  t.is(r.list(0, 10).files[0]!.sources, 30);
});

test('listPeers pages the live peers sorted by id, with their files and last seen', (t) => {
  const r = new MemoryRegistry();
  r.announce(announce('carol', [file(1)]), 5);
  r.announce(announce('alice', [file(1), file(2)]), 7);
  r.announce(announce('bob', []), 9);
  const all = r.listPeers(0, 10);
  t.is(all.total, 3);
  t.deepEqual(all.peers.map((p) => [p.peerId, p.files.length, p.lastSeen]), [['alice', 2, 7], ['bob', 0, 9], ['carol', 1, 5]]);
  t.deepEqual(r.listPeers(1, 1).peers.map((p) => p.peerId), ['bob']);
  t.deepEqual(r.listPeers(5, 10), { total: 3, peers: [] });
  r.drop('bob');
  t.deepEqual(r.listPeers(0, 10).peers.map((p) => p.peerId), ['alice', 'carol']);
});

test('a re-announce of the same files refreshes the peer and leaves the indexes as they were; any change still lands', (t) => {
  const r = new MemoryRegistry();
  const files = [file(1), file(2), file(3)];
  r.announce(announce('alice', files, { replace: true }), 0);
  const listed = r.list(0, 10);
  t.false(r.announce(announce('alice', files, { replace: true, endpoint: { host: '10.0.0.9', port: 9000 } }), 5));
  t.is(r.peer('alice')!.lastSeen, 5);
  t.deepEqual(r.lookupById(file(2).fileId)!.sources[0]!.endpoint, { host: '10.0.0.9', port: 9000 });
  t.deepEqual(r.list(0, 10), listed);
  // same ids, one under a new name: the name index learns it
  r.announce(announce('alice', [file(1), file(2), file(3, 'renamed.bin')], { replace: true }), 6);
  t.is(r.lookupByName('renamed.bin').length, 1);
  // one file fewer, and one swapped: replace forgets what is not listed
  r.announce(announce('alice', [file(1), file(4)], { replace: true }), 7);
  t.deepEqual([...r.peer('alice')!.files].sort(), [file(1).fileId, file(4).fileId]);
  t.is(r.lookupById(file(2).fileId), undefined);
  // the same files with a removal is not the fast path either
  r.announce(announce('alice', [file(1), file(4)], { replace: true, removed: [file(4).fileId] }), 8);
  t.deepEqual([...r.peer('alice')!.files], [file(1).fileId]);
});

test('repeated: the peer whose last announce had this digest, only while nothing changed it since', (t) => {
  const r = new MemoryRegistry();
  r.announce(announce('alice', [file(1)], { replace: true }), 0, 'd1');
  r.announce(announce('bob', [file(1)], { replace: true }), 0, 'd2');
  t.is(r.repeated('d1')?.peerId, 'alice');
  t.is(r.repeated('d2')?.peerId, 'bob');
  t.is(r.repeated('nope'), undefined);
  // another announce (even without a digest) replaces it
  r.announce(announce('alice', [file(2)]), 1);
  t.is(r.repeated('d1'), undefined);
  r.announce(announce('alice', [file(1)], { replace: true }), 2, 'd1');
  t.is(r.repeated('d1')?.peerId, 'alice');
  // a heartbeat from the same endpoint keeps it; from another one, it is no repeat any more
  t.true(r.heartbeat('alice', { host: '127.0.0.1', port: 7000 }, 3));
  t.is(r.repeated('d1')?.peerId, 'alice');
  t.true(r.heartbeat('alice', { host: '127.0.0.1', port: 7001 }, 4));
  t.is(r.repeated('d1'), undefined);
  // dropped or expired: gone with the peer
  t.true(r.drop('bob'));
  t.is(r.repeated('d2'), undefined);
  r.announce(announce('carol', [file(3)]), 0, 'd3');
  t.deepEqual(r.expire(10_000, 100), ['alice', 'carol']);
  t.is(r.repeated('d3'), undefined);
});

test('lookups share the registry’s objects rather than copy them, and later changes replace rather than mutate them', (t) => {
  const r = new MemoryRegistry();
  r.announce(announce('alice', [file(1)]), 0);
  const before = r.lookupById(file(1).fileId)!;
  r.heartbeat('alice', { host: '10.0.0.9', port: 7100 }, 1);
  r.announce(announce('alice', [{ ...file(1), name: 'renamed.bin' }], { endpoint: { host: '10.0.0.9', port: 7100 } }), 2);
  t.deepEqual(before.sources[0]!.endpoint, { host: '127.0.0.1', port: 7000 }, 'an answer already given does not change under the caller');
  t.is(before.sources[0]!.claims?.name, 'file-1.bin');
  const after = r.lookupById(file(1).fileId)!;
  t.deepEqual(after.sources[0]!.endpoint, { host: '10.0.0.9', port: 7100 });
  t.is(after.sources[0]!.claims?.name, 'renamed.bin');
});
