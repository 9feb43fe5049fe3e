// Availability in a big swarm (issue 12): every availability message is checked by every other
// downloader of the file, so each downloader's window widens with the downloaders it hears
// (src/download/announce-pace.ts) and what each one receives stays about the same however many
// there are — while every gained chunk still reaches every watcher. Real nats-server, a real
// tracker actor binding each peer's key, real part files on disk.
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import { SwarmAvailability, type SharedDownload } from '../../actors/availability.js';
import { PeerKeys } from '../../actors/peer-keys.js';
import { Tracker } from '../../actors/tracker.js';
import { announceWindowMs } from '../../src/download/announce-pace.js';
import type { HaveUpdate } from '../../src/download/picker.js';
import { PeerIdentity } from '../../src/identity.js';
import type { PartialDownload } from '../../src/store/partial.js';
import { hasBit, setBit, bitfieldBytes } from '../../src/protocol/bitfield.js';
import { decodeRaw, encode } from '../../src/protocol/codec.js';
import { PROTOCOL_VERSION } from '../../src/protocol/messages.js';
import { KeyReply } from '../../src/protocol/key-messages.js';
import { subjects } from '../../src/protocol/subjects.js';
import { connectBus, request } from '../../src/transport/bus.js';
import { startNats } from '../helpers/nats.js';
import { CHUNK, logger, openPartial, sharedFile, until } from '../helpers/chunks.js';

const PEERS = 32;
const GAINS = 80;
const GAIN_EVERY_MS = 25;

type Peer = { id: string; side: SwarmAvailability; partial?: PartialDownload; shared?: SharedDownload; mine: Uint8Array; views: Map<string, Uint8Array> };

/** A real nats-server and tracker, a file, and `n` peers bound at the tracker, each watching the file (what it hears in `views`). */
async function swarm(t: ExecutionContext, n: number, fileChunks: number, holds: (k: number) => boolean = () => false) {
  const server = await startNats(t);
  const prefix = `ap-${randomBytes(3).toString('hex')}`;
  const s = subjects(prefix);
  const nc = await connectBus({ url: server.url, name: 'test', reconnect: false });
  t.teardown(() => nc.close());
  const tracker = new Tracker({ nc, logger }, { prefix, ttlMs: 60_000, sweepMs: 1000 });
  await tracker.start();
  t.teardown(() => tracker.stop());
  const keyOf = async (peerId: string) => (await request(nc, s.key, { v: PROTOCOL_VERSION, peerId }, KeyReply, { timeoutMs: 5000, who: 'tracker' })).key;
  const keys = new PeerKeys(keyOf, { now: () => Date.now() });
  const file = await sharedFile(t, fileChunks * CHUNK);
  const count = file.manifest.hashes.length;

  // every message on the file's subject, by sender
  const sent = new Map<string, number>();
  nc.subscribe(s.avail(file.fileId), { callback: (_e, m) => {
    const peerId = (decodeRaw(m.data) as { peerId: string }).peerId;
    sent.set(peerId, (sent.get(peerId) ?? 0) + 1);
  } });
  await nc.flush();

  const peers: Peer[] = [];
  for (let k = 0; k < n; k++) {
    const id = `p${k}`;
    const identity = PeerIdentity.ephemeral();
    const announce = encode({ v: PROTOCOL_VERSION, peerId: id, endpoint: { host: '127.0.0.1', port: 7000 + k }, replace: true, files: [], removed: [] });
    await nc.request(s.announce, announce, { headers: identity.sign(s.announce, announce), timeout: 5000 });
    const side = new SwarmAvailability(
      { nc, logger, subjects: s, identity, keys },
      { peerId: id, endpoint: () => ({ host: '127.0.0.1', port: 7000 + k }), holds: (fileId) => (holds(k) && fileId === file.fileId ? count : undefined) },
    );
    side.start();
    t.teardown(() => side.stop());
    const peer: Peer = { id, side, mine: new Uint8Array(bitfieldBytes(count)), views: new Map() };
    // what this peer believes each other one has, from what it hears
    const stop = side.watch(file.fileId, count, (source, change: HaveUpdate) => {
      const view = peer.views.get(source.peerId) ?? new Uint8Array(bitfieldBytes(count));
      if (change.kind === 'all') view.fill(0xff);
      else if (change.kind === 'bits') view.set(change.bits.subarray(0, view.length));
      else for (const [a, b] of change.ranges) for (let i = a; i < b; i++) setBit(view, i);
      peer.views.set(source.peerId, view);
    });
    t.teardown(stop);
    peers.push(peer);
  }
  await nc.flush();
  return { file, count, sent, peers, slice: (i: number) => [file.data.subarray(i * CHUNK, (i + 1) * CHUNK)] };
}

test(`${PEERS} downloaders of one file: each paces its availability to the swarm's size, and every gain still reaches every watcher`, async (t) => {
  t.timeout(60_000);
  const { file, count, sent, peers, slice } = await swarm(t, PEERS, GAINS + 1);

  // each has chunk 0 and starts serving: its full bitfield goes out, and everyone hears everyone
  for (const p of peers) {
    p.partial = await openPartial(t, file);
    await p.partial.writeChunk(0, slice(0));
    setBit(p.mine, 0);
    p.shared = p.side.share(p.partial);
    t.teardown(() => p.shared!.close());
  }
  await until(() => peers.every((p) => p.views.size === PEERS - 1), 10_000, 'everyone heard everyone');
  sent.clear();

  // then every peer gains a chunk every 25 ms, in its own order
  const started = Date.now();
  for (let round = 1; round <= GAINS; round++) {
    for (const [k, p] of peers.entries()) {
      const index = 1 + ((round - 1 + k) % GAINS);
      await p.partial!.writeChunk(index, slice(index));
      setBit(p.mine, index);
      p.shared!.gained(index);
    }
    await new Promise((r) => setTimeout(r, Math.max(0, started + round * GAIN_EVERY_MS - Date.now())));
  }
  const gainingMs = Date.now() - started;

  // every watcher ends up knowing every chunk every other peer gained
  await until(() => peers.every((p) => peers.every((q) => q === p || sameBits(p.views.get(q.id)!, q.mine, count))), 15_000, 'every gain heard by every watcher');

  // and no peer sent more than its paced window allows (a fixed 50 ms window would send one per 50 ms)
  const window = announceWindowMs(PEERS - 1, 50);
  t.true(window >= 150, `window ${window} ms with ${PEERS - 1} others`);
  const most = Math.max(...sent.values());
  const allowed = Math.ceil(gainingMs / window) + 2;
  const unpaced = Math.floor(gainingMs / 50);
  t.true(most <= allowed, `at most ${allowed} messages per peer over ${gainingMs} ms at ${window} ms; the busiest sent ${most} (a 50 ms window: up to ${unpaced})`);
  t.log(`${PEERS} peers, ${gainingMs} ms of gains: messages per peer ${Math.min(...sent.values())}–${most} (window ${window} ms; unpaced up to ${unpaced})`);
});

function sameBits(view: Uint8Array, mine: Uint8Array, count: number): boolean {
  for (let i = 0; i < count; i++) if (hasBit(view, i) !== hasBit(mine, i)) return false;
  return true;
}

test('a burst of queries (downloaders starting together) gets one answer per holder per window, and every newcomer learns every holder', async (t) => {
  t.timeout(60_000);
  const NEWCOMERS = 20;
  // p0 holds the file whole, p1 downloads it (chunk 0 so far); the others just start
  const { file, sent, peers, slice } = await swarm(t, NEWCOMERS + 2, 4, (k) => k === 0);
  const [, downloading, ...newcomers] = peers;
  downloading!.partial = await openPartial(t, file);
  await downloading!.partial.writeChunk(0, slice(0));
  downloading!.shared = downloading!.side.share(downloading!.partial);
  t.teardown(() => downloading!.shared!.close());
  await until(() => (sent.get('p1') ?? 0) >= 1, 5000, "p1's first bitfield");
  await new Promise((r) => setTimeout(r, 100));
  sent.clear();
  for (const p of newcomers) p.side.query(file.fileId);
  await until(() => newcomers.every((p) => p.views.get('p0')?.[0] === 0xff && ((p.views.get('p1')?.[0] ?? 0) & 1) === 1), 10_000, 'every newcomer knows both holders');
  await new Promise((r) => setTimeout(r, 300)); // anything still due comes now
  t.true((sent.get('p0') ?? 0) <= 2, `the complete holder answered ${NEWCOMERS} queries with ${sent.get('p0')} messages`);
  t.true((sent.get('p1') ?? 0) <= 2, `the downloader answered ${NEWCOMERS} queries with ${sent.get('p1')} messages`);
  t.log(`${NEWCOMERS} queries at once: answers from the complete holder ${sent.get('p0')}, from the downloader ${sent.get('p1')}`);
});
