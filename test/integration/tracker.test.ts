// The tracker actor against a real nats-server: announce, lookup, list, heartbeat, expiry, bye,
// hostile input, hello on start, stop. Each test has its own server, tracker and client.
import test, { type ExecutionContext } from 'ava';
import { Writable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import winston from 'winston';
import type { NatsConnection } from 'nats';
import { Tracker } from '../../actors/tracker.js';
import { connectBus, request } from '../../src/transport/bus.js';
import { decode, decodeRaw, encode } from '../../src/protocol/codec.js';
import { subjects, type Subjects } from '../../src/protocol/subjects.js';
import {
  Ack,
  ErrorReply,
  HeartbeatReply,
  ListReply,
  LookupReply,
  PROTOCOL_VERSION,
  TrackerHello,
  type AnnounceRequest,
  type FileMeta,
} from '../../src/protocol/messages.js';
import { ProtocolError, UnknownPeerError } from '../../src/errors.js';
import { startNats } from '../helpers/nats.js';
import { PeerIdentity } from '../../src/identity.js';

const WAIT_MS = 5000;

interface LogEntry {
  level: string;
  message: string;
  [field: string]: unknown;
}

interface Setup {
  tracker: Tracker;
  client: NatsConnection;
  s: Subjects;
  logs: LogEntry[];
  hello: Promise<Uint8Array>;
}

/** A winston logger that keeps every entry in memory, so tests can wait for log lines. */
function memoryLogger(logs: LogEntry[]): winston.Logger {
  const stream = new Writable({
    objectMode: true,
    write(info: LogEntry, _encoding, done) {
      logs.push(info);
      done();
    },
  });
  return winston.createLogger({ level: 'debug', transports: [new winston.transports.Stream({ stream })] });
}

/** nats-server, a started tracker on its own connection, and a client connection. */
async function setup(t: ExecutionContext, opts: { ttlMs?: number; sweepMs?: number } = {}): Promise<Setup> {
  const server = await startNats(t);
  const prefix = `test-${randomBytes(4).toString('hex')}`;
  const s = subjects(prefix);
  const logs: LogEntry[] = [];
  const trackerNc = await connectBus({ url: server.url, name: 'tracker', reconnect: false });
  t.teardown(() => trackerNc.close());
  const tracker = new Tracker(
    { nc: trackerNc, logger: memoryLogger(logs) },
    { prefix, ttlMs: opts.ttlMs ?? 60_000, sweepMs: opts.sweepMs ?? 1000 },
  );
  t.teardown(() => tracker.stop());
  const client = await connectBus({ url: server.url, name: 'test-client', reconnect: false });
  t.teardown(() => client.close());
  // listen for the hello before the tracker starts, or it could be missed
  const hello = new Promise<Uint8Array>((resolve) => {
    client.subscribe(s.hello, { max: 1, callback: (_err, m) => resolve(m.data) });
  });
  await client.flush();
  await tracker.start();
  return { tracker, client, s, logs, hello };
}

/** Poll until `check` holds; fails with `what` after WAIT_MS. */
async function waitFor(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${WAIT_MS} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function file(n: number, name = `file-${n}.bin`): FileMeta {
  return { fileId: n.toString(16).padStart(64, '0'), name, size: 4096 * n, chunkSize: 4096, chunkCount: n };
}

function announceOf(peerId: string, port: number, files: FileMeta[]): AnnounceRequest {
  return { v: PROTOCOL_VERSION, peerId, endpoint: { host: '127.0.0.1', port }, replace: true, files, removed: [] };
}

const opts = { timeoutMs: 2000, who: 'tracker' };
/** every test peer signs with its own key, as real peers do */
const identities = new Map<string, PeerIdentity>();
const identityOf = (peerId: string) => identities.get(peerId) ?? identities.set(peerId, PeerIdentity.ephemeral()).get(peerId)!;
const signedBy = (peerId: string) => ({ ...opts, sign: (subject: string, payload: Uint8Array) => identityOf(peerId).sign(subject, payload) });
const bye = (x: Setup, peerId: string) => {
  const payload = encode({ v: 1, peerId });
  x.client.publish(x.s.bye, payload, { headers: identityOf(peerId).sign(x.s.bye, payload) });
};
const announce = (x: Setup, req: AnnounceRequest) => request(x.client, x.s.announce, req, Ack, signedBy(req.peerId));
const lookupId = (x: Setup, fileId: string) => request(x.client, x.s.lookup, { v: 1, fileId }, LookupReply, opts);
const lookupName = (x: Setup, name: string) => request(x.client, x.s.lookup, { v: 1, name }, LookupReply, opts);
const list = (x: Setup) => request(x.client, x.s.list, { v: 1 }, ListReply, opts);
const heartbeat = (x: Setup, peerId: string, port: number) =>
  request(x.client, x.s.heartbeat, { v: 1, peerId, endpoint: { host: '127.0.0.1', port }, fileCount: 1 }, HeartbeatReply, signedBy(peerId));
const sourcesOf = async (x: Setup, fileId: string) =>
  ((await lookupId(x, fileId)).matches[0]?.sources ?? []).map((src) => src.peerId).sort();
const logged = (x: Setup, message: string, fields: Record<string, unknown> = {}) =>
  x.logs.some((e) => e.message === message && Object.entries(fields).every(([k, v]) => e[k] === v));

/** Send raw bytes as a request and decode the reply without a schema. */
async function rawRequest(x: Setup, subject: string, bytes: Uint8Array): Promise<unknown> {
  const reply = await x.client.request(subject, bytes, { timeout: 2000 });
  return decodeRaw(reply.data);
}

test('publishes TrackerHello on start', async (t) => {
  const x = await setup(t);
  const hello = decode(TrackerHello, await x.hello);
  t.is(hello.trackerId, x.tracker.trackerId);
  t.true(logged(x, 'tracker started', { actor: 'tracker' }));
});

test('two peers announce; lookup by id and by name returns both; list counts sources', async (t) => {
  const x = await setup(t);
  const shared = file(1, 'movie.mkv');
  t.deepEqual(await announce(x, announceOf('alice', 7001, [shared, file(2, 'a.txt')])), { v: 1, ok: true });
  await announce(x, announceOf('bob', 7002, [shared]));
  t.true(logged(x, 'peer joined', { peerId: 'alice' }) && logged(x, 'peer joined', { peerId: 'bob' }));

  const byId = await lookupId(x, shared.fileId);
  t.is(byId.matches.length, 1);
  t.deepEqual(byId.matches[0]!.file, shared);
  t.deepEqual(
    byId.matches[0]!.sources.sort((a, b) => a.peerId.localeCompare(b.peerId)),
    [
      // each source with its own claims (issue 9, class 1)
      { peerId: 'alice', endpoint: { host: '127.0.0.1', port: 7001 }, claims: { name: shared.name, size: shared.size, chunkSize: shared.chunkSize, chunkCount: shared.chunkCount } },
      { peerId: 'bob', endpoint: { host: '127.0.0.1', port: 7002 }, claims: { name: shared.name, size: shared.size, chunkSize: shared.chunkSize, chunkCount: shared.chunkCount } },
    ],
  );
  const byName = await lookupName(x, 'movie.mkv');
  t.deepEqual(byName.matches.map((m) => [m.file.fileId, m.sources.length]), [[shared.fileId, 2]]);
  t.deepEqual((await lookupName(x, 'nothing.here')).matches, []);
  t.deepEqual((await lookupId(x, file(99).fileId)).matches, []);

  const listed = await list(x);
  t.is(listed.total, 2);
  t.is(listed.peers, 2);
  t.deepEqual(listed.files.map((f) => [f.name, f.sources]), [['a.txt', 1], ['movie.mkv', 2]]);
});

test('heartbeat says whether the tracker knows the peer', async (t) => {
  const x = await setup(t);
  t.deepEqual(await heartbeat(x, 'stranger', 7000), { v: 1, ok: true, known: false });
  await announce(x, announceOf('alice', 7001, [file(1)]));
  t.deepEqual(await heartbeat(x, 'alice', 7005), { v: 1, ok: true, known: true });
  t.is((await lookupId(x, file(1).fileId)).matches[0]!.sources[0]!.endpoint.port, 7005, 'endpoint refreshed');
});

test('a peer silent past the ttl is dropped; a heartbeating one stays', async (t) => {
  // a TTL long enough that a loaded machine's few round trips (announce, announce, lookup) fit in it
  const x = await setup(t, { ttlMs: 1500, sweepMs: 50 });
  const announcedAt = Date.now();
  await announce(x, announceOf('alice', 7001, [file(1), file(2)]));
  await announce(x, announceOf('bob', 7002, [file(1)]));
  const keepBobAlive = setInterval(() => void heartbeat(x, 'bob', 7002).catch(() => undefined), 50);
  t.teardown(() => clearInterval(keepBobAlive));

  t.deepEqual(await sourcesOf(x, file(1).fileId), ['alice', 'bob']);
  await waitFor(async () => !(await sourcesOf(x, file(1).fileId)).includes('alice'), 'alice to expire');
  t.true(Date.now() - announcedAt >= 1500, 'not expired before the ttl');
  t.deepEqual(await sourcesOf(x, file(1).fileId), ['bob']);
  t.deepEqual((await lookupId(x, file(2).fileId)).matches, [], 'file with no source left is gone');
  t.true(logged(x, 'peer expired', { peerId: 'alice' }));
  t.false(logged(x, 'peer expired', { peerId: 'bob' }));
  t.is((await heartbeat(x, 'alice', 7001)).known, false);
  t.is((await list(x)).peers, 1);
});

test('bye drops the peer at once', async (t) => {
  const x = await setup(t);
  await announce(x, announceOf('alice', 7001, [file(1)]));
  await announce(x, announceOf('bob', 7002, [file(1)]));
  bye(x, 'alice');
  await waitFor(async () => (await sourcesOf(x, file(1).fileId)).join() === 'bob', 'alice to leave');
  t.true(logged(x, 'peer left', { peerId: 'alice' }));
  t.is((await list(x)).peers, 1);
});

test('garbage and schema violations get an error reply and the tracker keeps answering', async (t) => {
  const x = await setup(t);
  await announce(x, announceOf('alice', 7001, [file(1)]));
  const refused = [
    Uint8Array.from([0xc1, 0xff, 0x00]),
    encode({ v: 1, fileId: 'not-hex' }),
    encode({ v: 1, fileId: file(1).fileId, name: 'both' }),
    encode([1, 2, 3]),
  ];
  for (const bytes of refused) {
    const reply = await rawRequest(x, x.s.lookup, bytes);
    t.like(decode(ErrorReply, encode(reply)), { ok: false, code: 'PROTOCOL_ERROR' });
  }
  t.like(await rawRequest(x, x.s.announce, Buffer.from('not msgpack at all, just text')), { ok: false, code: 'PROTOCOL_ERROR' });
  t.like(await rawRequest(x, x.s.lookup, encode({ v: 2, name: 'x' })), { ok: false, code: 'UNSUPPORTED_VERSION' });
  // the typed client maps the code back to our error class
  await t.throwsAsync(request(x.client, x.s.lookup, { v: 1 }, LookupReply, opts), { instanceOf: ProtocolError });
  t.true(logged(x, 'request refused', { code: 'PROTOCOL_ERROR' }));

  t.deepEqual(await sourcesOf(x, file(1).fileId), ['alice'], 'still answering');
});

test('a garbage publish on bye is dropped and the tracker keeps running', async (t) => {
  const x = await setup(t);
  await announce(x, announceOf('alice', 7001, [file(1)]));
  x.client.publish(x.s.bye, Uint8Array.from([0xde, 0xad, 0xbe, 0xef]));
  x.client.publish(x.s.bye, encode({ v: 1, peerId: 'not a valid id!' }));
  await waitFor(() => x.logs.filter((e) => e.message === 'message dropped' && e.subject === x.s.bye).length === 2, 'both drops');
  t.deepEqual(await sourcesOf(x, file(1).fileId), ['alice']);
  bye(x, 'alice');
  await waitFor(async () => (await list(x)).peers === 0, 'a valid bye after the garbage');
  t.pass();
});

test('stop is idempotent and leaves nobody answering', async (t) => {
  const x = await setup(t);
  await Promise.all([x.tracker.stop(), x.tracker.stop()]);
  await x.tracker.stop();
  await t.throwsAsync(list(x), { instanceOf: UnknownPeerError });
  t.is(x.logs.filter((e) => e.message === 'tracker stopped').length, 1);
});

test('a peer id belongs to the key that first signed for it: strangers, replays and forgeries are refused', async (t) => {
  const x = await setup(t);
  const req = announceOf('alice', 7001, [file(1)]);
  await announce(x, req);
  // unsigned
  await t.throwsAsync(request(x.client, x.s.announce, announceOf('bob', 7002, [file(2)]), Ack, opts), { code: 'PERMISSION_DENIED', message: /not signed/ });
  // another key claiming alice
  const mallory = PeerIdentity.ephemeral();
  const forged = announceOf('alice', 6666, [file(3)]);
  await t.throwsAsync(
    request(x.client, x.s.announce, forged, Ack, { ...opts, sign: (subject, payload) => mallory.sign(subject, payload) }),
    { code: 'PERMISSION_DENIED', message: /belongs to another identity/ },
  );
  // a replay of alice's own signed message
  const payload = encode(announceOf('alice', 7001, [file(1)]));
  const headers = identityOf('alice').sign(x.s.announce, payload);
  t.like(decodeRaw((await x.client.request(x.s.announce, payload, { headers, timeout: 2000 })).data) as object, { ok: true });
  t.like(decodeRaw((await x.client.request(x.s.announce, payload, { headers, timeout: 2000 })).data) as object, { ok: false, code: 'PERMISSION_DENIED' });
  // alice's signature on different bytes
  const tampered = encode(announceOf('alice', 6666, [file(3)]));
  t.like(decodeRaw((await x.client.request(x.s.announce, tampered, { headers: identityOf('alice').sign(x.s.announce, payload), timeout: 2000 })).data) as object, {
    ok: false,
    code: 'PERMISSION_DENIED',
  });
  // a bye signed by someone else does not drop alice
  const byePayload = encode({ v: 1, peerId: 'alice' });
  x.client.publish(x.s.bye, byePayload, { headers: mallory.sign(x.s.bye, byePayload) });
  await waitFor(() => logged(x, 'bye refused', { peerId: 'alice' }), 'the forged bye refused');
  t.deepEqual(await sourcesOf(x, file(1).fileId), ['alice']);
  t.deepEqual((await lookupId(x, file(3).fileId)).matches, [], 'nothing of the forgeries was registered');
  const src = (await lookupId(x, file(1).fileId)).matches[0]!.sources[0]!;
  t.is(src.endpoint.port, 7001);
});

test('a peer’s batches are taken in the order sent (replace first, then the rest), and a forgery between them stalls nobody', async (t) => {
  const x = await setup(t);
  const peers = Array.from({ length: 40 }, (_, i) => `p${i}`);
  const mallory = PeerIdentity.ephemeral();
  // every peer's two batches and a forged announce go out back to back, no reply awaited in between
  const sent = peers.flatMap((peerId, i) => [
    announce(x, announceOf(peerId, 7000 + i, [file(1000 + i)])),
    request(x.client, x.s.announce, announceOf(peerId, 6666, [file(5000 + i)]), Ack, { ...opts, sign: (subject, payload) => mallory.sign(subject, payload) }).then(
      () => 'accepted',
      (err: { code?: string }) => err.code,
    ),
    announce(x, { ...announceOf(peerId, 7000 + i, [file(2000 + i)]), replace: false }),
  ]);
  const results = await Promise.all(sent);
  t.true(results.filter((_, k) => k % 3 === 1).every((r) => r === 'PERMISSION_DENIED'), JSON.stringify(results));
  for (const [i, peerId] of peers.entries()) {
    // the second batch (replace: false) came after the first (replace: true): both files stay
    t.deepEqual(await sourcesOf(x, file(1000 + i).fileId), [peerId], `first batch of ${peerId}`);
    t.deepEqual(await sourcesOf(x, file(2000 + i).fileId), [peerId], `second batch of ${peerId}`);
    t.deepEqual((await lookupId(x, file(5000 + i).fileId)).matches, []);
  }
  t.is((await list(x)).total, 80);
});

test('the same announce again, byte for byte, is taken on its signature alone; replays, strangers and any change in between still go the whole way', async (t) => {
  const x = await setup(t, { ttlMs: 1500, sweepMs: 100 });
  const again = (payload: Uint8Array, by = identityOf('alice'), headers = by.sign(x.s.announce, payload)) =>
    x.client.request(x.s.announce, payload, { headers, timeout: 2000 }).then((m) => decodeRaw(m.data) as { ok: boolean; code?: string; message?: string });
  const repeats = () => x.logs.filter((e) => e.message === 'announce repeated' && e.peerId === 'alice').length;
  const a = encode(announceOf('alice', 7001, [file(1)]));
  t.like(await again(a), { ok: true });
  t.is(repeats(), 0, 'a first announce goes the whole way');
  // re-signed, the same bytes: only the signature is checked, and lastSeen is refreshed
  for (let i = 0; i < 6; i++) {
    t.like(await again(a), { ok: true });
    await new Promise((r) => setTimeout(r, 400));
  }
  t.is(repeats(), 6);
  t.deepEqual(await sourcesOf(x, file(1).fileId), ['alice'], 'kept alive past the ttl by repeats alone');
  // a replay of those very headers, and the same bytes signed by another key: refused
  const headers = identityOf('alice').sign(x.s.announce, a);
  t.like(await again(a, identityOf('alice'), headers), { ok: true });
  t.like(await again(a, identityOf('alice'), headers), { ok: false, code: 'PERMISSION_DENIED' });
  const stranger = await again(a, PeerIdentity.ephemeral());
  t.like(stranger, { ok: false, code: 'PERMISSION_DENIED' });
  t.regex(stranger.message ?? '', /another identity/);
  const counted = repeats();
  // another announce in between: the first one again must undo it, so it goes the whole way
  t.like(await again(encode(announceOf('alice', 7001, [file(2)]))), { ok: true });
  t.like(await again(a), { ok: true });
  t.is(repeats(), counted, 'not taken as a repeat after a change');
  t.deepEqual(await sourcesOf(x, file(1).fileId), ['alice']);
  t.deepEqual((await lookupId(x, file(2).fileId)).matches, [], 'the replace dropped file 2 again');
  // a heartbeat from another port: the announce again must put its own endpoint back
  t.like(await heartbeat(x, 'alice', 7999), { ok: true });
  t.like(await again(a), { ok: true });
  t.is(repeats(), counted);
  t.is((await lookupId(x, file(1).fileId)).matches[0]!.sources[0]!.endpoint.port, 7001);
  // gone (bye), then the same bytes: a join, not a repeat
  bye(x, 'alice');
  await waitFor(async () => (await sourcesOf(x, file(1).fileId)).length === 0, 'alice gone');
  t.like(await again(a), { ok: true });
  t.is(repeats(), counted);
  t.deepEqual(await sourcesOf(x, file(1).fileId), ['alice']);
});
