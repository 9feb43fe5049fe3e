// Replies that outgrow the bus (issue 9, class 4), at the bus layer, against a real nats-server:
// a reply over the broker's max payload is answered with a clear TOO_LARGE error (never dropped in
// silence, which the asker would take for "does not answer"); `fitToPayload` pages a reply that
// can grow; the messages that cannot page are bounded by construction under the max payload.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { connect } from 'nats';
import { z } from 'zod';
import { TooLargeError } from '../../src/errors.js';
import { encode } from '../../src/protocol/codec.js';
import { ANNOUNCE_BATCH, AnnounceRequest, StatusReply, TraceEntry } from '../../src/protocol/messages.js';
import { fitToPayload, maxPayload, request, serve } from '../../src/transport/bus.js';
import { createLogger } from '../../src/logger.js';
import { startNats } from '../helpers/nats.js';

const log = createLogger({ level: 'silent' });

/** 60 000 shared files: 10× the ~6 000 that made `p2p status` exceed the max payload. */
const SHARED = 60_000;

function sharedEntry(i: number) {
  return { fileId: randomBytes(32).toString('hex'), name: `file-${i}-${'n'.repeat(40)}.bin`, size: 1_000_000 + i, chunkSize: 1 << 20, chunkCount: 1, origin: 'shared' as const, path: `shared/deep/folder/file-${i}.bin` };
}

function statusWith(shared: ReturnType<typeof sharedEntry>[]) {
  return { v: 1, ok: true, peerId: 'bob', endpoint: { host: '127.0.0.1', port: 1 }, dir: 'bob', shared, downloads: [], served: { chunks: 0, bytes: 0 } };
}

test('a reply over the max payload comes back as a clear TOO_LARGE error at once, not as silence', async (t) => {
  const nats = await startNats(t, { jetstream: false });
  const nc = await connect({ servers: nats.url });
  t.teardown(() => nc.close());
  const all = Array.from({ length: SHARED }, (_, i) => sharedEntry(i));
  serve(nc, 'big.status', z.object({ v: z.literal(1) }), () => statusWith(all), { log, what: 'status' });
  await nc.flush();
  const started = Date.now();
  const err = await t.throwsAsync(request(nc, 'big.status', { v: 1 }, z.unknown(), { timeoutMs: 10_000, who: 'peer bob' }), { instanceOf: TooLargeError });
  t.regex(err!.message, /over the broker's max payload of \d+ bytes/);
  t.true(Date.now() - started < 5000, 'answered, not timed out');
});

test('fitToPayload pages 60 000 shared files: every page fits and validates, following `next` gives them all', async (t) => {
  const nats = await startNats(t, { jetstream: false });
  const nc = await connect({ servers: nats.url });
  t.teardown(() => nc.close());
  const all = Array.from({ length: SHARED }, (_, i) => sharedEntry(i));
  serve(
    nc,
    'paged.status',
    z.object({ v: z.literal(1), cursor: z.number().int().nonnegative() }),
    (m) => {
      const { reply, next } = fitToPayload(nc, statusWith(all.slice(m.cursor)), 'shared', 10_000);
      return { ...reply, next: next === undefined ? undefined : m.cursor + next };
    },
    { log, what: 'status' },
  );
  await nc.flush();
  const Page = StatusReply.extend({ next: z.number().int().optional() });
  const got: string[] = [];
  let pages = 0;
  for (let cursor: number | undefined = 0; cursor !== undefined; pages++) {
    const page: z.infer<typeof Page> = await request(nc, 'paged.status', { v: 1, cursor }, Page, { timeoutMs: 10_000, who: 'peer bob' });
    t.true(encode(page).length <= maxPayload(nc));
    got.push(...page.shared.map((f) => f.fileId));
    cursor = page.next;
  }
  t.is(got.length, SHARED);
  t.deepEqual(got, all.map((f) => f.fileId));
  t.true(pages > 1 && pages < 100, `${pages} pages`);
  t.log(`${SHARED} entries in ${pages} pages`);
});

test('bounded by construction: a worst-case announce batch and a worst-case trace page fit the default max payload', (t) => {
  // names of 255 three-byte characters: the largest FileMeta the schema admits
  const name = '語'.repeat(255);
  const files = Array.from({ length: ANNOUNCE_BATCH }, () => ({ fileId: 'f'.repeat(64), name, size: Number.MAX_SAFE_INTEGER, chunkSize: 64 * 1024 * 1024, chunkCount: 1_000_000 }));
  const announce = AnnounceRequest.parse({ v: 1, peerId: 'p'.repeat(64), endpoint: { host: 'h'.repeat(255), port: 65535 }, replace: true, files, removed: [] });
  const bytes = encode(announce).length;
  t.true(bytes < 1024 * 1024, `announce batch of ${ANNOUNCE_BATCH} worst-case files: ${bytes} bytes`);
  // 100 000 files announce in 200 such batches; 1 000 000 (10×) in 2 000: each one fits
  const entry = TraceEntry.parse({ downloadId: 'd'.repeat(64), seq: 1, ts: 1, from: 'x'.repeat(64), to: 'y'.repeat(64), event: 'z'.repeat(64), verifiedChunks: 1, totalChunks: 1, bytes: 1, sources: 1, attempts: 1, detail: 'w'.repeat(1024), final: false });
  t.true(encode(entry).length < 2048);
});
