// The registry's per-file source list: a flat array while a file has few sources, an ordered Map
// beyond FLAT_SOURCES_MAX; announce order, claims per source, removal and moving a source last
// are the same in both forms, and across the switch.
import test from 'ava';
import type { SourceClaims } from '../../src/protocol/messages.js';
import { appendSource, claimsOf, eachSource, firstClaims, FLAT_SOURCES_MAX, removeSourceOf, sourceCount, sourcePairs, type SourceSlots } from '../../src/store/source-list.js';

interface P {
  id: number;
}
const claims = (n: number): SourceClaims => ({ name: `f${n}`, size: n, chunkSize: 1, chunkCount: n });
const ids = (s: SourceSlots<P>) => sourcePairs(s).map(([p]) => p.id);

for (const n of [3, FLAT_SOURCES_MAX, FLAT_SOURCES_MAX + 1, FLAT_SOURCES_MAX * 4]) {
  test(`${n} sources: order, claims, removal and moving last`, (t) => {
    const s: SourceSlots<P> = { flat: [] };
    const peers = Array.from({ length: n }, (_, id) => ({ id }));
    peers.forEach((p) => appendSource(s, p, claims(p.id)));
    t.is(sourceCount(s), n);
    t.is(s.flat === undefined, n > FLAT_SOURCES_MAX, 'a Map only beyond the flat maximum');
    t.deepEqual(ids(s), peers.map((p) => p.id), 'announce order');
    t.deepEqual(claimsOf(s, peers[n - 1]!), claims(n - 1));
    t.is(claimsOf(s, { id: 0 }), undefined, 'by identity, not by value');
    t.deepEqual(firstClaims(s), claims(0));
    // the first source moves last with new claims; the second leaves
    t.true(removeSourceOf(s, peers[0]!));
    appendSource(s, peers[0]!, claims(99));
    t.true(removeSourceOf(s, peers[1]!));
    t.false(removeSourceOf(s, peers[1]!), 'gone already');
    const expected = peers.slice(2).map((p) => p.id).concat(0);
    t.deepEqual(ids(s), expected);
    t.is(sourceCount(s), n - 1);
    t.deepEqual(claimsOf(s, peers[0]!), claims(99));
    t.deepEqual(firstClaims(s), n > 2 ? claims(2) : claims(99));
    // each stops when told to
    const seen: number[] = [];
    eachSource(s, (p) => seen.push(p.id) < 2);
    t.deepEqual(seen, expected.slice(0, 2));
    for (const p of peers) removeSourceOf(s, p);
    t.is(sourceCount(s), 0);
    t.is(firstClaims(s), undefined);
  });
}
