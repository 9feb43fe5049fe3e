// Availability in a peer's name (issue 9, class 2): a downloader watching a file's availability
// (SwarmAvailability.watch) believes only messages signed by the key the tracker binds to the
// peer id they name, and newer than the last one from it. Real nats-server, a real tracker actor,
// the scriptable hostile peer publishing in an honest peer's name.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import winston from 'winston';
import type { Msg } from 'nats';
import { SwarmAvailability } from '../../actors/availability.js';
import { PeerKeys } from '../../actors/peer-keys.js';
import { Tracker } from '../../actors/tracker.js';
import { PeerIdentity } from '../../src/identity.js';
import { encode } from '../../src/protocol/codec.js';
import { PROTOCOL_VERSION } from '../../src/protocol/messages.js';
import { KeyReply } from '../../src/protocol/key-messages.js';
import { subjects } from '../../src/protocol/subjects.js';
import { connectBus, request } from '../../src/transport/bus.js';
import { HostileBus } from '../helpers/hostile-peer.js';
import { startNats } from '../helpers/nats.js';

const FILE = 'ef'.repeat(32);

function memoryLogger(lines: Array<{ message: string }>): winston.Logger {
  const stream = new Writable({ objectMode: true, write: (info: { message: string }, _e, done) => (lines.push(info), done()) });
  return winston.createLogger({ level: 'debug', transports: [new winston.transports.Stream({ stream })] });
}

const until = async (check: () => boolean, what: string) => {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

test('a watcher takes availability only from the peer it names: unsigned, mis-signed and replayed messages are dropped with a log line', async (t) => {
  const server = await startNats(t);
  const prefix = `sa-${randomBytes(3).toString('hex')}`;
  const s = subjects(prefix);
  const lines: Array<{ message: string }> = [];
  const logger = memoryLogger(lines);
  const nc = await connectBus({ url: server.url, name: 'test', reconnect: false });
  t.teardown(() => nc.close());
  const tracker = new Tracker({ nc, logger }, { prefix, ttlMs: 60_000, sweepMs: 1000 });
  await tracker.start();
  t.teardown(() => tracker.stop());

  // alice: an honest peer, bound at the tracker by a signed announce
  const alice = PeerIdentity.ephemeral();
  const announce = { v: PROTOCOL_VERSION, peerId: 'alice', endpoint: { host: '127.0.0.1', port: 7001 }, replace: true, files: [], removed: [] };
  const payload = encode(announce);
  await nc.request(s.announce, payload, { headers: alice.sign(s.announce, payload), timeout: 3000 });
  const keyOf = async (peerId: string) => (await request(nc, s.key, { v: PROTOCOL_VERSION, peerId }, KeyReply, { timeoutMs: 2000, who: 'tracker' })).key;
  const keys = new PeerKeys(keyOf, { now: () => Date.now() });
  const make = (peerId: string, identity: PeerIdentity) =>
    new SwarmAvailability({ nc, logger, subjects: s, identity, keys }, { peerId, endpoint: () => ({ host: '127.0.0.1', port: 7001 }), holds: () => undefined });
  const aliceSide = make('alice', alice);
  const bob = make('bob', PeerIdentity.ephemeral());

  const seen: string[] = [];
  const stop = bob.watch(FILE, 10, (source, change) => seen.push(`${source.peerId}:${change.kind}`));
  t.teardown(stop);
  const raw: Msg[] = [];
  nc.subscribe(s.avail(FILE), { callback: (_e, m) => raw.push(m) });
  await nc.flush();

  const mallory = await HostileBus.connect(t, server.url, prefix);
  const forged = { v: PROTOCOL_VERSION, peerId: 'alice', endpoint: { host: '10.6.6.6', port: 666 }, fileId: FILE, chunkCount: 10, complete: true };
  mallory.publish(s.avail(FILE), forged);
  mallory.publish(s.avail(FILE), forged, { sign: true });
  await until(() => lines.filter((l) => /availability message dropped/.test(l.message)).length >= 2, 'two drops');
  t.deepEqual(seen, []);
  t.truthy(lines.find((l) => /not signed by its sender/.test(l.message)));
  t.truthy(lines.find((l) => /signed by a key that is not the peer's/.test(l.message)));

  // alice's own message is believed
  aliceSide.announceComplete(FILE, 10);
  await until(() => seen.length === 1, 'alice believed');
  t.deepEqual(seen, ['alice:all']);

  // the same bytes and headers again (a replay by anyone who saw them) are dropped
  await until(() => raw.length >= 3, 'raw copies');
  const genuine = raw[2]!;
  mallory.nc.publish(genuine.subject, genuine.data, { headers: genuine.headers });
  await until(() => lines.some((l) => /replayed or out of order/.test(l.message)), 'replay dropped');
  t.deepEqual(seen, ['alice:all']);
});
