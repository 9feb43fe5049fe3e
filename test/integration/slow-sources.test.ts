// Slow is not silent (issue 9, class 3): hostile sources that keep a connection busy with a byte
// now and then. Every request has a deadline on its whole answer, scaled to its size; manifests
// are asked of several sources at once and the first verified one wins; a trickling source is
// struck like a lying one. Real sockets, the scriptable hostile peer of test/helpers.
import test from 'ava';
import { PeerTimeoutError } from '../../src/errors.js';
import { answerDeadlineMs, PeerConnection } from '../../src/transport/chunk-client.js';
import { fetchFile, fetchManifest } from '../../src/download/fetch.js';
import { CHUNK, fetchOptions, joinedSha256, logger, openPartial, sha256, sharedFile, source, startServer, withTimeout } from '../helpers/chunks.js';
import { hostileSource } from '../helpers/hostile-peer.js';

const SIZE = 8 * CHUNK + 123;

test('a chunk trickled one byte at a time fails at its whole-answer deadline, though the connection is never silent', async (t) => {
  const file = await sharedFile(t, SIZE);
  const slow = await hostileSource(t, file, { chunk: { kind: 'trickle', everyMs: 20, bytes: 16 } });
  const timeoutMs = 400;
  const minRateBps = 256 * 1024;
  const conn = await PeerConnection.connect({ host: '127.0.0.1', port: slow.port }, { timeoutMs, minRateBps, logger, maxChunkBytes: CHUNK });
  t.teardown(() => conn.close());
  const started = Date.now();
  const err = await t.throwsAsync(conn.getChunk(file.fileId, 0, CHUNK, file.manifest.hashes[0]!), { instanceOf: PeerTimeoutError });
  const took = Date.now() - started;
  t.regex(err!.message, /too slow/);
  const deadline = answerDeadlineMs(timeoutMs, CHUNK, 0, minRateBps);
  t.true(took >= deadline - 50 && took < deadline + 1500, `failed after ${took} ms, deadline ${deadline} ms`);
});

test('the deadline scales with the size: an honest answer at a fair rate is not cut', async (t) => {
  const file = await sharedFile(t, SIZE);
  // 64 KiB at ~100 KiB/s: ~650 ms, longer than the 400 ms silence timeout would allow in one go
  const steady = await hostileSource(t, file, { chunk: { kind: 'trickle', everyMs: 10, bytes: 1024 } });
  const conn = await PeerConnection.connect({ host: '127.0.0.1', port: steady.port }, { timeoutMs: 400, minRateBps: 32 * 1024, logger, maxChunkBytes: CHUNK });
  t.teardown(() => conn.close());
  const slices = await conn.getChunk(file.fileId, 0, CHUNK, file.manifest.hashes[0]!);
  t.is(Buffer.concat(slices).length, CHUNK);
});

test('manifest: a source trickling it one byte every 2 s is listed first, the honest one second → the manifest comes at once', async (t) => {
  const file = await sharedFile(t, SIZE);
  const trickler = await hostileSource(t, file, { manifest: { kind: 'trickle', everyMs: 2000 } });
  const good = await startServer(t, [file]);
  const started = Date.now();
  const manifest = await withTimeout(
    fetchManifest([source('mallory', trickler.port), source('alice', good.port)], file.fileId, { timeoutMs: 20_000, logger }),
    5000,
    'the manifest',
  );
  t.deepEqual(manifest, file.manifest);
  t.true(Date.now() - started < 2000, `took ${Date.now() - started} ms`);
  t.is(trickler.asked.manifest, 1, 'mallory was asked too, at the same time');
});

test('manifest: with one source asked at a time, a trickler is struck at its deadline and named; the next one gives it', async (t) => {
  const file = await sharedFile(t, SIZE);
  const trickler = await hostileSource(t, file, { manifest: { kind: 'trickle', everyMs: 100 } });
  const liar = await hostileSource(t, file, { manifest: { kind: 'lie' } });
  const good = await startServer(t, [file]);
  const struck: string[] = [];
  const started = Date.now();
  const manifest = await withTimeout(
    fetchManifest([source('mallory', trickler.port), source('liar', liar.port), source('alice', good.port)], file.fileId, {
      timeoutMs: 500,
      minRateBps: 1024,
      expectedChunks: file.manifest.hashes.length,
      parallel: 1,
      logger,
      onSourceFailed: (s, err) => struck.push(`${s.peerId} ${err.code}`),
    }),
    10_000,
    'the manifest',
  );
  t.deepEqual(manifest, file.manifest);
  t.deepEqual(struck, ['mallory PEER_TIMEOUT', 'liar MANIFEST_MISMATCH']);
  t.true(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
});

test('chunks: a source trickling every chunk is struck and dropped; the download completes from the honest one', async (t) => {
  const file = await sharedFile(t, SIZE);
  const trickler = await hostileSource(t, file, { chunk: { kind: 'trickle', everyMs: 50, bytes: 1 } });
  const good = await startServer(t, [file]);
  const partial = await openPartial(t, file);
  const events: string[] = [];
  const started = Date.now();
  const outcome = await withTimeout(
    fetchFile(
      fetchOptions(file, partial, [source('mallory', trickler.port), source('alice', good.port)], {
        chunkTimeoutMs: 1000,
        minRateBps: 256 * 1024,
        endgameMinMs: 60_000, // no endgame rescue: the deadline alone must free mallory's chunks
        onSourceEvent: (e) => e.kind !== 'chunk' && e.kind !== 'connected' && events.push(`${e.peerId} ${e.kind} ${e.detail ?? ''}`.trim()),
      }),
    ),
    30_000,
    'the download',
  );
  t.deepEqual(outcome, { outcome: 'complete' });
  t.true(
    events.some((e) => /^mallory (strike|dropped) .*PEER_TIMEOUT/.test(e)),
    events.join('; '),
  );
  t.false(events.some((e) => e.startsWith('alice ')), events.join('; '));
  t.true(Date.now() - started < 20_000, `took ${Date.now() - started} ms`);
  t.is(await joinedSha256(t, partial), sha256(file.data));
});
