// Configuration layering: defaults → file → env P2P_* → flags, validated with clear errors.
import test from 'ava';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { envName, loadConfig } from '../../config/index.js';
import { ConfigError } from '../../src/errors.js';
import { DEFAULT_LARGE_FILE_SIZE, DEFAULT_MAX_CHUNKS, DEFAULT_MIN_CHUNK_SIZE } from '../../src/protocol/ids.js';
import { chooseChunkSize } from '../../src/store/manifest.js';
import { SYNC_EVERY_BYTES } from '../../src/store/writeback.js';
import { tempDir } from '../helpers/tmp.js';

test('defaults: NATS at 127.0.0.1:4222, TTL 15 s', (t) => {
  const c = loadConfig({ env: {} });
  t.is(c.nats.url, 'nats://127.0.0.1:4222');
  t.is(c.tracker.ttlMs, 15_000);
  t.is(c.prefix, 'p2p');
});

test('the default background sync interval is the one the part file falls back to', (t) => {
  t.is(loadConfig({ env: {} }).download.syncEveryBytes, SYNC_EVERY_BYTES);
});

test('the default chunk size is the one the manifest code and the bench assume', (t) => {
  const c = loadConfig({ env: {} });
  t.is(c.peer.minChunkSize, DEFAULT_MIN_CHUNK_SIZE);
  t.is(c.peer.largeFileSize, DEFAULT_LARGE_FILE_SIZE);
  t.is(c.peer.maxChunks, DEFAULT_MAX_CHUNKS);
  t.is(chooseChunkSize(3 * 1024 * 1024), c.peer.minChunkSize);
  t.is(chooseChunkSize(c.peer.largeFileSize - 1), c.peer.minChunkSize, 'below largeFileSize: the smallest');
  t.is(chooseChunkSize(c.peer.largeFileSize), 2 * c.peer.minChunkSize, 'from largeFileSize: twice the smallest');
  t.is(chooseChunkSize(c.peer.maxChunks * 2 * c.peer.minChunkSize), 2 * c.peer.minChunkSize, 'still twice at maxChunks chunks');
  t.is(chooseChunkSize(c.peer.maxChunks * 2 * c.peer.minChunkSize + 1), 4 * c.peer.minChunkSize, 'doubles past maxChunks');
});

test('chunk settings: largeFileSize 0 never doubles; an old 1 MiB peer is matched by minChunkSize 1 MiB, largeFileSize 0', (t) => {
  const MiB = 1024 * 1024;
  t.is(chooseChunkSize(2048 * MiB, { largeFileSize: 0 }), DEFAULT_MIN_CHUNK_SIZE);
  t.is(chooseChunkSize(4096 * MiB, { minChunkSize: MiB, largeFileSize: 0 }), MiB);
  t.is(chooseChunkSize(64 * MiB, { minChunkSize: 64 * 1024, largeFileSize: 32 * MiB }), 128 * 1024);
  t.is(chooseChunkSize(8192 * MiB, { minChunkSize: 64 * MiB, largeFileSize: 1 }), 64 * MiB, 'never past MAX_CHUNK_SIZE');
  const c = loadConfig({ env: { P2P_PEER_LARGE_FILE_SIZE: '0' } });
  t.is(c.peer.largeFileSize, 0);
  t.throws(() => loadConfig({ env: { P2P_PEER_LARGE_FILE_SIZE: '-1' } }), { instanceOf: ConfigError });
});

test('env names follow the key path', (t) => {
  t.is(envName(['nats', 'url']), 'P2P_NATS_URL');
  t.is(envName(['tracker', 'ttlMs']), 'P2P_TRACKER_TTL_MS');
});

test('file, then env, then flags win in that order', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'c.json');
  await writeFile(file, JSON.stringify({ nats: { url: 'nats://file:1' }, tracker: { ttlMs: 1000 }, prefix: 'fromfile' }));
  const c = loadConfig({ file, env: { P2P_NATS_URL: 'nats://env:2', P2P_TRACKER_TTL_MS: '2000' }, overrides: { nats: { url: 'nats://flag:3' } } });
  t.is(c.nats.url, 'nats://flag:3');
  t.is(c.tracker.ttlMs, 2000);
  t.is(c.prefix, 'fromfile');
  t.is(loadConfig({ env: { P2P_CONFIG: file } }).nats.url, 'nats://file:1');
});

test('bad values are refused with the key and its env name', (t) => {
  const err = t.throws(() => loadConfig({ env: { P2P_TRACKER_TTL_MS: 'soon' } }), { instanceOf: ConfigError });
  t.regex(err!.message, /tracker\.ttlMs.*P2P_TRACKER_TTL_MS/);
  t.throws(() => loadConfig({ env: { P2P_PREFIX: 'a b' } }), { instanceOf: ConfigError });
  t.throws(() => loadConfig({ file: '/nonexistent/config.json', env: {} }), { instanceOf: ConfigError });
});

test('bandwidth caps and upload slots: defaults unlimited, byte suffixes accepted, junk refused', (t) => {
  const d = loadConfig({ env: {} });
  t.deepEqual([d.peer.uploadBps, d.peer.downloadBps, d.peer.uploadSlots], [0, 0, 0]);
  const c = loadConfig({ env: { P2P_PEER_UPLOAD_BPS: '20M', P2P_PEER_DOWNLOAD_BPS: '1048576', P2P_PEER_UPLOAD_SLOTS: '4' } });
  t.deepEqual([c.peer.uploadBps, c.peer.downloadBps, c.peer.uploadSlots], [20 * 1024 * 1024, 1048576, 4]);
  t.is(loadConfig({ env: {}, overrides: { peer: { uploadBps: '512K' } } }).peer.uploadBps, 512 * 1024);
  const err = t.throws(() => loadConfig({ env: { P2P_PEER_UPLOAD_BPS: 'fast' } }), { instanceOf: ConfigError });
  t.regex(err!.message, /peer\.uploadBps.*P2P_PEER_UPLOAD_BPS/);
  t.throws(() => loadConfig({ env: { P2P_PEER_UPLOAD_SLOTS: '-1' } }), { instanceOf: ConfigError });
});
