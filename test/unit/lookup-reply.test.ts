// The tracker's lookup reply written straight from the registry (src/tracker/lookup-reply.ts)
// must be byte for byte what encode() gives for the LookupReply object built the old way: the
// registry's lookupById / lookupByName, trimmed by a reference that measures with msgpackr (per
// item encodes), then encoded. Every case compares the two.
import test from 'ava';
import { strictEqual } from 'node:assert/strict';
import { encode, MAX_MESSAGE_BYTES } from '../../src/protocol/codec.js';
import { PROTOCOL_VERSION, type AnnounceRequest, type FileMeta, type LookupMatch, type LookupReply, type Source } from '../../src/protocol/messages.js';
import { MsgpackWriter } from '../../src/protocol/msgpack-write.js';
import { MemoryRegistry } from '../../src/store/registry.js';
import { LookupReplyWriter, MAX_MATCHES, REPLY_BUDGET, writeSource, type LookupReplyLimits } from '../../src/tracker/lookup-reply.js';

const fileId = (n: number) => n.toString(16).padStart(64, '0');
const meta = (n: number, extra: Partial<FileMeta> = {}): FileMeta => ({ fileId: fileId(n), name: `file-${n}.bin`, size: 1000 * n, chunkSize: 1024, chunkCount: n, ...extra });
const announce = (peerId: string, files: FileMeta[], endpoint = { host: '127.0.0.1', port: 7000 }): AnnounceRequest => ({
  v: PROTOCOL_VERSION,
  peerId,
  endpoint,
  replace: false,
  files,
  removed: [],
});

const arrayHeader = (n: number) => (n < 16 ? 1 : n < 65536 ? 3 : 5);

/** The old path: match objects, trimmed with sizes msgpackr measures, in a LookupReply. */
function reference(r: MemoryRegistry, matches: LookupMatch[], limits: LookupReplyLimits): LookupReply {
  const out: LookupMatch[] = [];
  let budget = limits.budget ?? REPLY_BUDGET;
  for (const match of matches.slice(0, limits.maxMatches ?? MAX_MATCHES)) {
    let sources = match.sources;
    if (sources.length > limits.maxSourcesPerMatch) {
      const seen = (s: Source) => r.peer(s.peerId)!.lastSeen;
      sources = [...sources].sort((a, b) => seen(b) - seen(a)).slice(0, limits.maxSourcesPerMatch);
    }
    // the match without sources, less its empty array's header; then each source's own bytes
    const head = encode({ file: match.file, sources: [] }).length - 1;
    let items = 0;
    const kept: Source[] = [];
    for (const source of sources) {
      const cost = encode(source).length;
      if (head + arrayHeader(kept.length + 1) + items + cost > budget) break;
      items += cost;
      kept.push(source);
    }
    const size = head + arrayHeader(kept.length) + items;
    if (size > budget) break;
    // the arithmetic above, checked against msgpackr itself
    strictEqual(encode({ file: match.file, sources: kept }).length, size);
    budget -= size;
    out.push({ file: match.file, sources: kept });
  }
  return { v: PROTOCOL_VERSION, ok: true, matches: out };
}

/** Write the reply for a fileId or a name both ways; they must be the same bytes. */
function same(t: import('ava').ExecutionContext, r: MemoryRegistry, q: { fileId?: string; name?: string }, limits: LookupReplyLimits = { maxSourcesPerMatch: 1000 }): LookupReply {
  const files = q.fileId !== undefined ? [r.fileById(q.fileId)].filter((f) => f !== undefined) : r.filesByName(q.name!);
  const matches = q.fileId !== undefined ? [r.lookupById(q.fileId)].filter((m) => m !== undefined) : r.lookupByName(q.name!);
  const written = new LookupReplyWriter(limits).write(files);
  const expected = reference(r, matches, limits);
  t.deepEqual(Buffer.from(encode(written.reply)), Buffer.from(encode(expected)));
  t.is(written.matches, expected.matches.length);
  t.is(written.sources, expected.matches.reduce((n, m) => n + m.sources.length, 0));
  return expected;
}

test('no match: by an unknown id, by an unknown name, on an empty registry', (t) => {
  const r = new MemoryRegistry();
  same(t, r, { fileId: fileId(1) });
  r.announce(announce('alice', [meta(1)]), 1);
  same(t, r, { fileId: fileId(2) });
  t.deepEqual(same(t, r, { name: 'nothing.bin' }).matches, []);
});

test('one match with one source, by id and by name', (t) => {
  const r = new MemoryRegistry();
  r.announce(announce('alice', [meta(1)]), 1);
  t.is(same(t, r, { fileId: fileId(1) }).matches[0]!.sources.length, 1);
  t.is(same(t, r, { name: 'file-1.bin' }).matches.length, 1);
});

test('many sources: 15, 16 and 300 (fixarray, then array 16), each with its own endpoint', (t) => {
  for (const n of [15, 16, 300]) {
    const r = new MemoryRegistry();
    for (let i = 0; i < n; i++) r.announce(announce(`peer-${i}`, [meta(7)], { host: `10.0.${i >> 8}.${i & 255}`, port: 1024 + i }), i);
    t.is(same(t, r, { fileId: fileId(7) }).matches[0]!.sources.length, n);
  }
});

test('claims: each source its own (a liar beside honest ones), and a source without claims', (t) => {
  const r = new MemoryRegistry();
  r.announce(announce('mallory', [meta(3, { size: 9_999_999, chunkCount: 10 })]), 1);
  r.announce(announce('alice', [meta(3)]), 2);
  r.announce(announce('bob', [meta(3, { name: 'renamed.bin' })]), 3);
  const reply = same(t, r, { fileId: fileId(3) });
  t.deepEqual(reply.matches[0]!.sources.map((s) => s.claims?.size), [9_999_999, 3000, 3000]);
  same(t, r, { name: 'renamed.bin' });
  // the registry always has claims; the writer leaves the key out (not nil) when there are none
  const endpoint = { host: 'seed.example', port: 443 };
  for (const claims of [undefined, { name: 'x.bin', size: 1, chunkSize: 1, chunkCount: 1 }]) {
    const w = new MsgpackWriter(8);
    writeSource(w, 'carol', endpoint, claims);
    t.deepEqual(w.copy(), Buffer.from(encode(claims ? { peerId: 'carol', endpoint, claims } : { peerId: 'carol', endpoint })));
  }
});

test('unicode names and hosts: 2-, 3- and 4-byte UTF-8, lone surrogates, every string header', (t) => {
  const names = [
    'é.txt',
    'ünïcødé-ñame.bin',
    '映画.mkv',
    '🎵 song 🎶.mp3',
    'lone \ud800 surrogate',
    'tail \udc00',
    'a'.repeat(31),
    'a'.repeat(32),
    'é'.repeat(16),
    'é'.repeat(40), // 40 chars (the short-string loop), 80 bytes
    'é'.repeat(70), // 70 chars (Buffer's utf8 write), 140 bytes
    '映'.repeat(100), // 300 bytes: str 16 from a 100-char string
    '🎵'.repeat(63) + 'x', // surrogate pairs across the 64-char boundary
    'x'.repeat(255),
    '映'.repeat(255),
  ];
  const r = new MemoryRegistry();
  names.forEach((name, i) => {
    r.announce(announce(`p${i}`, [meta(100 + i, { name })], { host: i % 2 ? `hôte-${name.slice(0, 20)}` : '::1', port: 7000 + i }), i);
    r.announce(announce(`q${i}`, [meta(100 + i, { name: name + '.copy' })]), i);
    same(t, r, { fileId: fileId(100 + i) });
    same(t, r, { name });
  });
});

test('integers of every width: sizes, chunk counts, ports, lastSeen', (t) => {
  const sizes = [0, 1, 127, 128, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 3, Number.MAX_SAFE_INTEGER];
  const ports = [1, 127, 128, 255, 256, 65535];
  const seen = [0, 5, 300, 70_000, 2 ** 33, Date.now()];
  const r = new MemoryRegistry();
  sizes.forEach((size, i) => {
    const m = meta(200 + i, { size, chunkSize: [1, 127, 128, 65536, 64 * 1024 * 1024][i % 5]!, chunkCount: [0, 127, 128, 256, 1_000_000][i % 5]! });
    ports.forEach((port, j) => r.announce(announce(`peer-${i}-${j}`, [m], { host: '10.0.0.1', port }), seen[j]!));
    same(t, r, { fileId: m.fileId });
    same(t, r, { fileId: m.fileId }, { maxSourcesPerMatch: 3 });
  });
});

test('maxSourcesPerMatch: the freshest sources, latest first, announce order among equals', (t) => {
  const r = new MemoryRegistry();
  const lastSeen = [5, 2 ** 33, 300, 70_000, 300, 1, 2 ** 33 + 1, 300, 0, 70_000];
  lastSeen.forEach((now, i) => r.announce(announce(`peer-${i}`, [meta(9)]), now));
  const reply = same(t, r, { fileId: fileId(9) }, { maxSourcesPerMatch: 5 });
  t.deepEqual(reply.matches[0]!.sources.map((s) => s.peerId), ['peer-6', 'peer-1', 'peer-3', 'peer-9', 'peer-2']);
  // a heartbeat makes a source fresh again
  r.heartbeat('peer-8', { host: '127.0.0.1', port: 7000 }, 2 ** 34);
  t.is(same(t, r, { fileId: fileId(9) }, { maxSourcesPerMatch: 5 }).matches[0]!.sources[0]!.peerId, 'peer-8');
  t.is(same(t, r, { fileId: fileId(9) }, { maxSourcesPerMatch: 10 }).matches[0]!.sources[0]!.peerId, 'peer-0', 'not over the limit: announce order');
});

test('budget: a file with too many sources is cut to what fits, under the message limit', (t) => {
  const r = new MemoryRegistry();
  const m = meta(11, { name: 'popular.bin' });
  for (let i = 0; i < 12_000; i++) r.announce(announce(`peer-with-a-longer-id-${i}`, [m], { host: `host-${i}.example.org`, port: 1 + i }), i);
  const reply = same(t, r, { fileId: m.fileId }, { maxSourcesPerMatch: 20_000 });
  const kept = reply.matches[0]!.sources.length;
  t.true(kept > 1000 && kept < 12_000, `kept ${kept}`);
  t.true(encode(reply).length <= MAX_MESSAGE_BYTES);
  // small budgets, around every boundary of a match with a few sources
  const small = new MemoryRegistry();
  for (let i = 0; i < 20; i++) small.announce(announce(`p${i}`, [m]), i);
  for (let budget = 0; budget < 2500; budget += 7) same(t, small, { fileId: m.fileId }, { maxSourcesPerMatch: 20, budget });
});

test('budget: too many matches; a file that does not fit ends the reply, one that fits alone has no source', (t) => {
  const r = new MemoryRegistry();
  for (let i = 0; i < 40; i++) {
    const m = meta(300 + i, { name: 'common.bin' });
    for (let j = 0; j <= i % 4; j++) r.announce(announce(`peer-${i}-${j}`, [m]), i);
  }
  for (let budget = 0; budget < 12_000; budget += 13) same(t, r, { name: 'common.bin' }, { maxSourcesPerMatch: 1000, budget });
  t.is(same(t, r, { name: 'common.bin' }, { maxSourcesPerMatch: 2, maxMatches: 7 }).matches.length, 7);
  // more files under one name than a reply carries
  const many = new MemoryRegistry();
  for (let i = 0; i < MAX_MATCHES + 5; i++) many.announce(announce(`peer-${i}`, [meta(5000 + i, { name: 'everywhere.bin' })]), i);
  t.is(same(t, many, { name: 'everywhere.bin' }).matches.length, MAX_MATCHES);
});

test('a writer reused for many replies gives each its own bytes', (t) => {
  const r = new MemoryRegistry();
  for (let i = 0; i < 50; i++) r.announce(announce(`peer-${i}`, [meta(i + 1), meta(i + 2)]), i);
  const writer = new LookupReplyWriter({ maxSourcesPerMatch: 1000 });
  const replies = Array.from({ length: 50 }, (_, i) => writer.write([r.fileById(fileId(i + 1))!]).reply.bytes);
  replies.forEach((bytes, i) => t.deepEqual(Buffer.from(bytes), Buffer.from(encode({ v: PROTOCOL_VERSION, ok: true, matches: [r.lookupById(fileId(i + 1))!] }))));
});

test("a source's cached id and endpoint follow its endpoint: heartbeats and announces that move it, and ones that do not", (t) => {
  const r = new MemoryRegistry();
  r.announce(announce('alice', [meta(1)], { host: '10.0.0.1', port: 7000 }), 1);
  r.announce(announce('bob', [meta(1)], { host: '10.0.0.2', port: 7000 }), 1);
  const endpointOf = (reply: LookupReply, peerId: string) => reply.matches[0]!.sources.find((s) => s.peerId === peerId)!.endpoint;
  t.deepEqual(endpointOf(same(t, r, { fileId: fileId(1) }), 'alice'), { host: '10.0.0.1', port: 7000 });
  // the same endpoint in a new object keeps the cached bytes; a new port or host replaces them
  r.heartbeat('alice', { host: '10.0.0.1', port: 7000 }, 2);
  t.deepEqual(endpointOf(same(t, r, { fileId: fileId(1) }), 'alice'), { host: '10.0.0.1', port: 7000 });
  r.heartbeat('alice', { host: '10.0.0.1', port: 7001 }, 3);
  t.deepEqual(endpointOf(same(t, r, { fileId: fileId(1) }), 'alice'), { host: '10.0.0.1', port: 7001 });
  r.announce(announce('alice', [meta(1)], { host: 'alice.lan', port: 7001 }), 4);
  t.deepEqual(endpointOf(same(t, r, { name: 'file-1.bin' }), 'alice'), { host: 'alice.lan', port: 7001 });
  t.deepEqual(endpointOf(same(t, r, { fileId: fileId(1) }), 'bob'), { host: '10.0.0.2', port: 7000 });
});
