// A KV tracker instance's view must keep following the bucket whatever happens to the watch under
// it: the broker restarting (kill -9, same store) or the watch's consumer vanishing on the server.
// A frozen view answers lookups without every peer announced through the other instances since.
import test, { type ExecutionContext } from 'ava';
import { randomBytes } from 'node:crypto';
import { createLogger } from '../../src/logger.js';
import { PROTOCOL_VERSION, type AnnounceRequest } from '../../src/protocol/messages.js';
import { connectBus } from '../../src/transport/bus.js';
import { KvStore } from '../../src/tracker/kv-store.js';
import { startNats } from '../helpers/nats.js';
import { Scope } from '../helpers/scope.js';

const logger = createLogger({ level: 'silent' });
/** How soon the view must have caught up: nats.js's own ordered-consumer reset alone takes ≈ 15 s. */
const FOLLOW_MS = 10_000;

function ann(peerId: string): AnnounceRequest {
  const fileId = randomBytes(32).toString('hex');
  return { v: PROTOCOL_VERSION, peerId, endpoint: { host: '10.0.0.1', port: 1 }, replace: true, files: [{ fileId, name: `${peerId}.bin`, size: 1, chunkSize: 1, chunkCount: 1 }], removed: [] };
}

async function until(t: ExecutionContext, what: string, ok: () => boolean | Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      if (await ok()) return;
    } catch {
      // not yet (the broker is coming back)
    }
    if (Date.now() > deadline) t.fail(`timed out waiting for ${what}`);
    if (Date.now() > deadline) return;
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function pair(t: ExecutionContext, scope: Scope) {
  const nats = await startNats(scope);
  const bucket = `f-${randomBytes(4).toString('hex')}`;
  const open = async (name: string) => {
    const nc = await connectBus({ url: nats.url, name, reconnect: true, extra: { reconnectTimeWait: 100, maxReconnectAttempts: -1 } });
    scope.teardown(() => nc.close());
    const store = new KvStore(nc, logger, { prefix: 'test', bucket, timeoutMs: 10_000, followCheckMs: 500 });
    scope.teardown(() => store.stop());
    await store.start();
    return { nc, store };
  };
  const reader = await open('reader');
  const writer = await open('writer');
  t.teardown(() => scope.run());
  return { nats, reader: reader.store, writer: writer.store, readerNc: reader.nc };
}

test.serial('the view follows the bucket across a broker killed with SIGKILL and started again', async (t) => {
  const scope = new Scope();
  const { nats, reader, writer } = await pair(t, scope);
  await writer.announce(ann('before'), Date.now());
  await until(t, 'the reader to see the first peer', () => reader.lookupByName('before.bin').length > 0);
  nats.kill('SIGKILL');
  await new Promise((r) => setTimeout(r, 300));
  await nats.restart();
  await until(t, 'the writer to announce again', async () => (await writer.announce(ann('after'), Date.now()), true));
  await until(t, 'the reader to see the peer announced after the restart', () => reader.lookupByName('after.bin').length > 0, FOLLOW_MS);
  t.true(reader.lookupByName('before.bin').length > 0, 'what it had before is still there');
});

test.serial("the view follows the bucket when the watch's consumer is deleted on the server", async (t) => {
  const scope = new Scope();
  const { reader, writer, readerNc } = await pair(t, scope);
  await writer.announce(ann('one'), Date.now());
  await until(t, 'the reader to see the first peer', () => reader.lookupByName('one.bin').length > 0);
  const jsm = await readerNc.jetstreamManager();
  const stream = `KV_${reader.bucket}`;
  for await (const c of jsm.consumers.list(stream)) await jsm.consumers.delete(stream, c.name);
  for (let i = 0; i < 20; i++) await writer.announce(ann(`later-${i}`), Date.now());
  await until(t, 'the reader to see every later peer', () => Array.from({ length: 20 }, (_, i) => i).every((i) => reader.lookupByName(`later-${i}.bin`).length > 0), FOLLOW_MS);
  t.pass();
});
