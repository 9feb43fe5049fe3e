// Replies that outgrow the bus (issue 9, class 4), end to end over a real nats-server, asked by the
// built `p2p` CLI as a child process: a peer's status with 60 000 shared files (10× the ~6 000 that
// exceeded the max payload) and a trace of 10 000 long transitions (10× ~1 000) come back whole,
// page by page, every page under the broker's max payload; 100 000 files announce in batches the
// tracker accepts and `p2p ls` lists them all. Peers and files are synthetic to stay fast: the
// real Downloads actor answers from a made-up share list and a written trace file.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Dashboard } from '../../actors/dashboard.js';
import { Downloads } from '../../actors/downloads.js';
import { Tracker } from '../../actors/tracker.js';
import { loadConfig } from '../../config/index.js';
import { systemClock } from '../../src/clock.js';
import { createLogger } from '../../src/logger.js';
import { encode } from '../../src/protocol/codec.js';
import { ANNOUNCE_BATCH, type SharedFile } from '../../src/protocol/messages.js';
import { subjects } from '../../src/protocol/subjects.js';
import { connectBus, maxPayload } from '../../src/transport/bus.js';
import { HostileBus } from '../helpers/hostile-peer.js';
import { startNats } from '../helpers/nats.js';
import { lastJson, runCli } from '../helpers/processes.js';
import { tempDir } from '../helpers/tmp.js';

const log = createLogger({ level: 'silent' });
const SHARED = 60_000;
const TRANSITIONS = 10_000;
const LISTED = 100_000;

const fileId = (i: number) => i.toString(16).padStart(64, '0');
const shared = (i: number): SharedFile => ({ fileId: fileId(i), name: `file-${i}-${'n'.repeat(40)}.bin`, size: 1_000_000 + i, chunkSize: 1 << 20, chunkCount: 1, origin: 'shared', path: `shared/deep/folder/file-${i}.bin` });

/** A real Downloads actor of peer `big` on its own connection, answering status and trace. */
async function bigPeer(t: Parameters<typeof startNats>[0], url: string, prefix: string, dir: string, downloadId: string) {
  const nc = await connectBus({ url, name: 'big', reconnect: false });
  t.teardown(() => nc.close());
  const all = Array.from({ length: SHARED }, (_, i) => shared(i));
  const tracesDir = join(dir, 'traces');
  await mkdir(tracesDir, { recursive: true });
  const started = Date.now() - 60_000;
  const detail = 'd'.repeat(1000);
  const lines = Array.from({ length: TRANSITIONS }, (_, seq) =>
    JSON.stringify({ downloadId, seq, ts: started + seq, from: 'fetching', to: 'fetching', event: 'fetch.progress', verifiedChunks: seq, totalChunks: TRANSITIONS, bytes: seq, sources: 1, retries: 0, attempts: 0, detail, final: seq === TRANSITIONS - 1 }),
  );
  await writeFile(join(tracesDir, `${downloadId}.jsonl`), lines.join('\n') + '\n');
  const record = { downloadId, target: 'x.bin', state: 'done', status: 'done', verifiedChunks: 1, totalChunks: 1, bytes: 1, totalBytes: 1, rateBps: 0, sources: 0, attempts: 0, startedAt: started, finishedAt: started + 1 };
  const historyFile = join(dir, 'downloads.json');
  await writeFile(historyFile, JSON.stringify({ version: 1, downloads: [record] }));
  const config = loadConfig({ env: {} });
  const downloads = new Downloads(
    // no session is ever started here: the peer only answers status and trace
    { nc, logger: log, clock: systemClock, subjects: subjects(prefix), session: {} as never },
    {
      peerId: 'big',
      dir: 'big',
      historyFile,
      tracesDir,
      download: config.download,
      describePeer: () => ({ endpoint: { host: '127.0.0.1', port: 1 }, shared: all, served: { chunks: 0, bytes: 0 } }),
    },
  );
  await downloads.start();
  await downloads.resume();
  t.teardown(() => downloads.stop());
  return { nc, all };
}

test('status of 60 000 shared files and a trace of 10 000 long transitions come back whole, in pages that fit', async (t) => {
  const nats = await startNats(t, { jetstream: false });
  const prefix = 'big4';
  const dir = await tempDir(t, 'p2p-big-');
  const downloadId = 'dl-big-000001';
  const { nc, all } = await bigPeer(t, nats.url, prefix, dir, downloadId);
  const s = subjects(prefix);
  const bus = await HostileBus.connect(t, nats.url, prefix);

  // each page is under the broker's max payload and says where the next starts
  const first = (await bus.request(s.status('big'), { v: 1 }, { timeoutMs: 20_000 })) as { ok: boolean; shared: unknown[]; next?: number; sharedTotal: number };
  t.true(first.ok);
  t.is(first.sharedTotal, SHARED);
  t.true(first.next !== undefined && first.next === first.shared.length, `next ${first.next}`);
  t.true(encode(first).length <= maxPayload(nc));

  const cli = (args: string[]) => runCli([...args, '--peer', 'big', '--nats', nats.url, '--prefix', prefix], { timeoutMs: 60_000 });
  let started = Date.now();
  const st = await cli(['status', '--json']);
  const statusMs = Date.now() - started;
  t.is(st.code, 0, st.stderr);
  const status = JSON.parse(st.stdout) as { shared: Array<{ fileId: string }>; downloads: Array<{ downloadId: string }>; next?: number };
  t.is(status.shared.length, SHARED);
  t.deepEqual(status.shared.map((f) => f.fileId), all.map((f) => f.fileId));
  t.deepEqual(status.downloads.map((d) => d.downloadId), [downloadId]);
  t.is(status.next, undefined);

  const page = (await bus.request(s.trace('big'), { v: 1, downloadId, from: 0 }, { timeoutMs: 20_000 })) as { entries: unknown[]; next?: number; total: number };
  t.is(page.total, TRANSITIONS);
  t.true(page.next !== undefined && page.entries.length < TRANSITIONS);
  t.true(encode(page).length <= maxPayload(nc));

  started = Date.now();
  const all10k = await cli(['trace', downloadId, '--json', '--all']);
  const traceMs = Date.now() - started;
  t.is(all10k.code, 0, all10k.stderr);
  const seqs = all10k.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { seq: number }).seq);
  t.deepEqual(seqs, Array.from({ length: TRANSITIONS }, (_, i) => i));
  // without --all: the last 5000, as before, but whole
  const last = await cli(['trace', downloadId, '--json']);
  t.is(last.code, 0, last.stderr);
  const lastSeqs = last.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { seq: number }).seq);
  t.is(lastSeqs.length, 5000);
  t.is(lastSeqs[0], TRANSITIONS - 5000);
  t.log(`status of ${SHARED} shared files: ${statusMs} ms; trace of ${TRANSITIONS} transitions (--all): ${traceMs} ms; max payload ${maxPayload(nc)} bytes`);

  // the dashboard reads every page too: the download comes on a page after the 60 000 shared files
  const dashNc = await connectBus({ url: nats.url, name: 'dashboard', reconnect: false });
  t.teardown(() => dashNc.close());
  const dashboard = new Dashboard({ nc: dashNc, logger: log }, { prefix, statusMs: 300, listMs: 60_000 });
  await dashboard.start();
  t.teardown(() => dashboard.stop());
  bus.publish(s.heartbeat, { v: 1, peerId: 'big', endpoint: { host: '127.0.0.1', port: 1 }, fileCount: SHARED });
  let view: { peers: Array<{ peerId: string; fileCount: number }>; downloads: Array<{ downloadId: string }> } | undefined;
  for (const deadline = Date.now() + 30_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 200))) {
    view = dashboard.model.view() as typeof view;
    if (view!.downloads.some((d) => d.downloadId === downloadId)) break;
  }
  t.is(view!.peers.find((p) => p.peerId === 'big')?.fileCount, SHARED);
  t.deepEqual(view!.downloads.map((d) => d.downloadId), [downloadId]);
});

test('100 000 files announce in batches the tracker accepts; `p2p ls` lists them all', async (t) => {
  const nats = await startNats(t, { jetstream: false });
  const prefix = 'big4ls';
  const nc = await connectBus({ url: nats.url, name: 'tracker', reconnect: false });
  t.teardown(() => nc.close());
  const tracker = new Tracker({ nc, logger: log }, { prefix, ttlMs: 600_000, sweepMs: 60_000 });
  await tracker.start();
  t.teardown(() => tracker.stop());
  const bus = await HostileBus.connect(t, nats.url, prefix);
  const s = subjects(prefix);
  const started = Date.now();
  for (let i = 0; i < LISTED; i += ANNOUNCE_BATCH) {
    const files = Array.from({ length: ANNOUNCE_BATCH }, (_, k) => ({ fileId: fileId(i + k), name: `f-${String(i + k).padStart(6, '0')}.bin`, size: 1, chunkSize: 1 << 20, chunkCount: 1 }));
    const reply = (await bus.request(s.announce, { v: 1, peerId: 'many', endpoint: { host: '127.0.0.1', port: 1 }, replace: i === 0, files, removed: [] }, { sign: true, timeoutMs: 20_000 })) as { ok: boolean };
    t.true(reply.ok);
  }
  const announceMs = Date.now() - started;
  // one batch too many files is refused, not half taken
  const tooMany = Array.from({ length: ANNOUNCE_BATCH + 1 }, (_, k) => ({ fileId: fileId(k), name: 'x', size: 1, chunkSize: 1 << 20, chunkCount: 1 }));
  t.false(((await bus.request(s.announce, { v: 1, peerId: 'many', endpoint: { host: '127.0.0.1', port: 1 }, replace: false, files: tooMany, removed: [] }, { sign: true, timeoutMs: 20_000 })) as { ok: boolean }).ok);
  const lsStarted = Date.now();
  const ls = await runCli(['ls', '--json', '--nats', nats.url, '--prefix', prefix], { timeoutMs: 120_000 });
  const lsMs = Date.now() - lsStarted;
  t.is(ls.code, 0, ls.stderr);
  const out = lastJson<{ files: Array<{ name: string }>; total: number }>(ls);
  t.is(out.total, LISTED);
  t.is(out.files.length, LISTED);
  t.is(new Set(out.files.map((f) => f.name)).size, LISTED);
  t.log(`${LISTED} files announced in ${LISTED / ANNOUNCE_BATCH} batches: ${announceMs} ms; p2p ls of them: ${lsMs} ms`);
});
