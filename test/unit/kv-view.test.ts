// A KV tracker's view of its bucket (src/tracker/kv-view.ts), fed entries by hand in the orders a
// watch, a direct read from a lagging replica and the instance's own writes can bring them.
import test from 'ava';
import type { KvEntry } from 'nats';
import { createLogger } from '../../src/logger.js';
import { encode } from '../../src/protocol/codec.js';
import type { FileMeta } from '../../src/protocol/messages.js';
import { MemoryRegistry } from '../../src/store/registry.js';
import { KvView } from '../../src/tracker/kv-view.js';

const logger = createLogger({ level: 'silent' });
const file = (n: number): FileMeta => ({ fileId: n.toString(16).padStart(64, '0'), name: `f${n}.bin`, size: 4096 * n, chunkSize: 4096, chunkCount: n });
const endpoint = { host: '10.0.0.1', port: 7 };

function entry(key: string, revision: number, value: unknown): KvEntry {
  const data = value === undefined ? new Uint8Array() : encode(value);
  return { key, revision, value: data, operation: value === undefined ? 'DEL' : 'PUT' } as unknown as KvEntry;
}

function setup() {
  const registry = new MemoryRegistry();
  const view = new KvView(registry, logger);
  const held = (peerId: string) => registry.peer(peerId)?.files.length;
  return { registry, view, held };
}

test('the watch order: a list, then the record naming it; a heartbeat moves only the time', (t) => {
  const { registry, view, held } = setup();
  view.onEntry(entry('files.a', 1, { files: [file(1), file(2)] }));
  t.is(held('a'), undefined, 'a list alone is no peer');
  view.onEntry(entry('peer.a', 2, { endpoint, lastSeen: 100, filesRev: 1 }));
  t.is(held('a'), 2);
  view.onEntry(entry('peer.a', 3, { endpoint, lastSeen: 200, filesRev: 1 }));
  t.is(registry.peer('a')!.lastSeen, 200);
  t.is(held('a'), 2);
  // a new list, then its record
  view.onEntry(entry('files.a', 4, { files: [file(3)] }));
  t.is(held('a'), 2, 'the known peer keeps its files until the record names the new list');
  view.onEntry(entry('peer.a', 5, { endpoint, lastSeen: 300, filesRev: 4 }));
  t.deepEqual(registry.peer('a')!.files, [file(3).fileId]);
});

test('a record read before its list (a lagging replica, a resumed watch): the list, when it comes, is taken', (t) => {
  const { registry, view, held } = setup();
  view.onEntry(entry('peer.b', 6, { endpoint, lastSeen: 100, filesRev: 5 }));
  t.is(held('b'), 0, 'known, with nothing to list yet');
  view.onEntry(entry('files.b', 5, { files: [file(1)] }));
  t.deepEqual(registry.peer('b')!.files, [file(1).fileId]);
  // an older list read first, then the record naming a newer one, then the newer list
  view.onEntry(entry('files.c', 7, { files: [file(1)] }));
  view.onEntry(entry('peer.c', 10, { endpoint, lastSeen: 100, filesRev: 9 }));
  t.deepEqual(registry.peer('c')!.files, [file(1).fileId], 'a peer new to the view takes the list it has');
  view.onEntry(entry('files.c', 9, { files: [file(2), file(3)] }));
  t.deepEqual(registry.peer('c')!.files, [file(2).fileId, file(3).fileId]);
  // a list the record does not name changes nothing (its record is on its way)
  view.onEntry(entry('files.c', 11, { files: [file(4)] }));
  t.deepEqual(registry.peer('c')!.files, [file(2).fileId, file(3).fileId]);
});

test('records from before the split carry their files; stale entries and deletes', (t) => {
  const { registry, view, held } = setup();
  view.onEntry(entry('peer.old', 3, { endpoint, lastSeen: 100, files: [file(1), file(2)] }));
  t.is(held('old'), 2);
  view.onEntry(entry('peer.old', 2, { endpoint, lastSeen: 50, files: [] }));
  t.is(held('old'), 2, 'an older revision is ignored');
  view.onEntry(entry('peer.old', 4, undefined));
  t.is(registry.peer('old'), undefined);
  t.is(registry.lookupById(file(1).fileId), undefined);
  // a bad value is dropped, not applied and not thrown
  view.onEntry(entry('files.x', 5, { files: 'nope' }));
  t.false(view.lists.has('x'));
});
