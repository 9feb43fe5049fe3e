// What a download trusts of a file (issue 9, class 1): the verified manifest, each source's claims
// checked against it; the tracker keeps every source's own claims (no first-announcer metadata).
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { checkClaims, describeStruck, largestClaimedChunks } from '../../src/download/claims.js';
import { MemoryRegistry } from '../../src/store/registry.js';
import type { FileMeta } from '../../src/protocol/messages.js';

const fileId = 'a'.repeat(64);
const manifest = { size: 2_500_000, chunkSize: 1_048_576, hashes: [randomBytes(32), randomBytes(32), randomBytes(32)] };
const honest: FileMeta = { fileId, name: 'x.bin', size: 2_500_000, chunkSize: 1_048_576, chunkCount: 3 };
const lie: FileMeta = { ...honest, size: 9_999_999, chunkCount: 10 };
const at = (port: number) => ({ host: '10.0.0.1', port });
const announce = (r: MemoryRegistry, peerId: string, meta: FileMeta, now = 1) =>
  r.announce({ v: 1, peerId, endpoint: at(1000 + now), replace: false, files: [meta], removed: [] }, now);

test('the tracker keeps each source’s own claims; the liar who came first hides nobody', (t) => {
  const r = new MemoryRegistry();
  announce(r, 'mallory', lie, 1);
  announce(r, 'alice', honest, 2);
  const match = r.lookupById(fileId)!;
  t.deepEqual(
    match.sources.map((s) => [s.peerId, s.claims?.size]),
    [['mallory', lie.size], ['alice', honest.size]],
  );
  // a second honest source: the listed metadata is what most sources claim, not the first announcer's
  announce(r, 'bob', honest, 3);
  t.is(r.lookupById(fileId)!.file.size, honest.size);
  t.is(r.list(0, 10).files[0]!.size, honest.size);
  // the honest ones leave: the listing follows what is left
  r.drop('alice');
  r.drop('bob');
  t.is(r.lookupById(fileId)!.file.size, lie.size);
});

test('a source announcing new claims for a file replaces its old ones', (t) => {
  const r = new MemoryRegistry();
  announce(r, 'alice', lie, 1);
  announce(r, 'alice', honest, 2);
  const match = r.lookupById(fileId)!;
  t.is(match.sources.length, 1);
  t.is(match.sources[0]!.claims!.size, honest.size);
  t.is(match.file.size, honest.size);
});

test('checkClaims: the manifest says what the file is; sources claiming otherwise are struck and named', (t) => {
  const sources = [
    { peerId: 'mallory', endpoint: at(1), claims: { name: 'x.bin', size: lie.size, chunkSize: lie.chunkSize, chunkCount: lie.chunkCount } },
    { peerId: 'alice', endpoint: at(2), claims: { name: 'x.bin', size: honest.size, chunkSize: honest.chunkSize, chunkCount: 3 } },
    // an older tracker sends no claims: nothing to strike it for
    { peerId: 'old', endpoint: at(3) },
  ];
  const checked = checkClaims(manifest, lie, sources);
  t.deepEqual(checked.file, honest);
  t.deepEqual(checked.kept.map((s) => s.peerId), ['alice', 'old']);
  t.deepEqual(checked.struck, [{ peerId: 'mallory', reason: 'claims size 9999999 ≠ 2500000, chunkCount 10 ≠ 3' }]);
  t.regex(describeStruck(checked.struck), /^struck 1 source\(s\).*mallory \(claims size 9999999 ≠ 2500000/);
  t.is(largestClaimedChunks(honest, sources), 10);
});

test('describeStruck stays bounded with many long peer ids', (t) => {
  const struck = Array.from({ length: 500 }, (_, i) => ({ peerId: `liar${i}`.padEnd(64, 'x'), reason: 'claims size 1 ≠ 2' }));
  const text = describeStruck(struck);
  t.true(text.length <= 1024, `${text.length} chars`);
  t.regex(text, /and 495 more/);
});

test('checkClaims: the name asked for is kept unless no honest source uses it', (t) => {
  const sources = [{ peerId: 'alice', endpoint: at(2), claims: { name: 'real.bin', size: honest.size, chunkSize: honest.chunkSize, chunkCount: 3 } }];
  t.is(checkClaims(manifest, { ...lie, name: 'bait.bin' }, sources).file.name, 'real.bin');
  t.is(checkClaims(manifest, { ...honest, name: 'real.bin' }, sources).file.name, 'real.bin');
});
