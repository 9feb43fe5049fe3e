// The dashboard's pure parts: the swarm model (chunk holder counts with whole and partial
// holders, peers coming and going, rates from status replies on an injected clock) and the
// access rules (token, loopback Host, action header, same origin).
import test from 'ava';
import type { IncomingMessage } from 'node:http';
import { SwarmModel } from '../../src/dashboard/model.js';
import { checkAccess, COOKIE } from '../../src/dashboard/auth.js';
import type { ListEntry, StatusReply } from '../../src/protocol/messages.js';

const fileId = 'a'.repeat(64);
const file: ListEntry = { fileId, name: '<b>x</b>.bin', size: 10 * 1024, chunkSize: 1024, chunkCount: 10, sources: 1 };
const ep = { host: '127.0.0.1', port: 4000 };

function status(peerId: string, servedBytes: number, rateBps = 0): StatusReply {
  return {
    v: 1,
    ok: true,
    peerId,
    endpoint: ep,
    dir: '/x',
    shared: [],
    downloads: rateBps
      ? [{ downloadId: 'dl-1', target: 'x', state: 'fetching', status: 'running', verifiedChunks: 1, totalChunks: 10, bytes: 1, totalBytes: 10, rateBps, sources: 1, attempts: 0, startedAt: 1 }]
      : [],
    served: { chunks: 0, bytes: servedBytes },
  };
}

test('chunk counts: tracker sources hold every chunk, partial holders their bits, gained ranges add up', (t) => {
  const m = new SwarmModel(() => 1000);
  t.deepEqual(m.setFiles([file]), [fileId]);
  m.setSources(fileId, [{ peerId: 'alice', endpoint: ep }]);
  t.deepEqual([...m.counts(fileId).counts], Array(10).fill(1));
  // bob has chunks 0 and 9 (bitfield), then gains 1-3
  const bits = new Uint8Array(2);
  bits[0] = 0b1;
  bits[1] = 0b10;
  m.onAvailability({ v: 1, peerId: 'bob', endpoint: ep, fileId, chunkCount: 10, complete: false, bitfield: bits });
  m.onAvailability({ v: 1, peerId: 'bob', endpoint: ep, fileId, chunkCount: 10, complete: false, gained: [[1, 4]] });
  t.deepEqual([...m.counts(fileId).counts], [2, 2, 2, 2, 1, 1, 1, 1, 1, 2]);
  t.deepEqual(m.counts(fileId).holders.find((h) => h.peerId === 'bob'), { peerId: 'bob', chunks: 5, complete: false });
  // a message for another chunk count (a different file version) is ignored
  m.onAvailability({ v: 1, peerId: 'carol', endpoint: ep, fileId, chunkCount: 11, complete: true });
  t.is(m.counts(fileId).holders.length, 2);
  // bob completes, then leaves
  m.onAvailability({ v: 1, peerId: 'bob', endpoint: ep, fileId, chunkCount: 10, complete: true });
  t.deepEqual([...m.counts(fileId).counts], Array(10).fill(2));
  m.dropPeer('bob');
  t.deepEqual([...m.counts(fileId).counts], Array(10).fill(1));
  // the view carries the name as data, untouched
  const view = m.view() as { files: Array<{ name: string; counts: string }> };
  t.is(view.files[0]!.name, '<b>x</b>.bin');
  t.is(Buffer.from(view.files[0]!.counts, 'base64').length, 10);
  // files gone from the tracker's list are gone here
  m.setFiles([]);
  t.deepEqual(m.fileIds(), []);
});

test('rates: upload from the served-bytes delta, download from running downloads', (t) => {
  let now = 10_000;
  const m = new SwarmModel(() => now);
  m.onStatus(status('alice', 0));
  now += 2000;
  m.onStatus(status('alice', 4_000_000, 500));
  const view = m.view() as { peers: Array<{ peerId: string; rates: number[][]; running: number }> };
  const alice = view.peers.find((p) => p.peerId === 'alice')!;
  t.deepEqual(alice.rates[1], [12_000, 2_000_000, 500]);
  t.is(alice.running, 1);
  // download rates are smoothed over the last seconds: bursty reports (0, then a burst) read steady
  const dl = (bytes: number, rateBps: number) => ({ ...status('alice', 0, 1).downloads[0]!, bytes, rateBps });
  now += 1000;
  m.onProgress('alice', dl(1_000_000, 0));
  now += 1000;
  m.onProgress('alice', dl(3_000_000, 9_000_000));
  // samples: 1 B at 12 s (the status above), 1 MB at 13 s, 3 MB at 14 s
  t.is((m.view() as { downloads: Array<{ rateBps: number }> }).downloads[0]!.rateBps, Math.round(((3_000_000 - 1) * 1000) / 2000));
});

test('a silent peer goes offline, then is forgotten', (t) => {
  let now = 0;
  const m = new SwarmModel(() => now);
  m.seePeer('bob', ep);
  now = 5000;
  m.peerSilent('bob', 30_000);
  t.deepEqual(m.peerIds(), ['bob']);
  t.false((m.view() as { peers: Array<{ online: boolean }> }).peers[0]!.online);
  now = 40_000;
  m.peerSilent('bob', 30_000);
  t.deepEqual(m.peerIds(), []);
});

test('a late running progress never undoes a final state; traces keep order without duplicates', (t) => {
  const m = new SwarmModel(() => 0);
  const base = status('bob', 0, 10).downloads[0]!;
  m.onProgress('bob', { ...base, state: 'done', status: 'done' });
  m.onProgress('bob', { ...base });
  t.is((m.view() as { downloads: Array<{ status: string }> }).downloads[0]!.status, 'done');
  const entry = { downloadId: 'dl-1', seq: 1, ts: 1, from: 'lookup', to: 'fetching', event: 'lookup.done', verifiedChunks: 0, totalChunks: 1, bytes: 0, sources: 1, attempts: 0, final: false };
  t.true(m.onTrace('bob', entry));
  t.false(m.onTrace('bob', entry));
  t.true(m.onTrace('bob', { ...entry, seq: 0 }));
  t.deepEqual(m.trace('bob', 'dl-1').map((e) => e.seq), [0, 1]);
});

function req(headers: Record<string, string>, method = 'GET'): IncomingMessage {
  return { headers, method } as unknown as IncomingMessage;
}
const u = (path: string) => new URL(path, 'http://x.invalid');

test('access: token from the URL once (then a cookie), bearer, or refused', (t) => {
  const opts = { token: 'sekret-token' };
  t.like(checkAccess(req({ host: 'h:1' }), u('/'), opts), { ok: false, status: 401 });
  t.like(checkAccess(req({ host: 'h:1' }), u('/?token=wrong'), opts), { ok: false, status: 401 });
  const first = checkAccess(req({ host: 'h:1' }), u('/?token=sekret-token'), opts);
  t.true(first.ok && /HttpOnly; SameSite=Strict/.test(first.setCookie ?? ''));
  t.deepEqual(checkAccess(req({ host: 'h:1', cookie: `a=b; ${COOKIE}=sekret-token` }), u('/events'), opts), { ok: true });
  t.true(checkAccess(req({ host: 'h:1', authorization: 'Bearer sekret-token' }), u('/api/state'), opts).ok);
  t.like(checkAccess(req({ host: 'h:1', cookie: `${COOKIE}=nope` }), u('/events'), opts), { ok: false, status: 401 });
});

test('access: loopback Host only, actions need the header and the same origin', (t) => {
  const opts = { allowedHosts: new Set(['127.0.0.1:7070']) };
  t.true(checkAccess(req({ host: '127.0.0.1:7070' }), u('/'), opts).ok);
  t.like(checkAccess(req({ host: 'evil.example:7070' }), u('/'), opts), { ok: false, status: 421 });
  t.like(checkAccess(req({ host: '127.0.0.1:7070' }, 'POST'), u('/api/cancel'), opts), { ok: false, status: 403 });
  t.like(checkAccess(req({ host: '127.0.0.1:7070', 'x-p2p-dashboard': '1', origin: 'http://evil.example' }, 'POST'), u('/api/cancel'), opts), { ok: false, status: 403 });
  t.true(checkAccess(req({ host: '127.0.0.1:7070', 'x-p2p-dashboard': '1', origin: 'http://127.0.0.1:7070' }, 'POST'), u('/api/cancel'), opts).ok);
});
