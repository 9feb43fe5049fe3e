// Configuration layering: defaults → file → env P2P_* → flags, validated with clear errors.
import test from 'ava';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { envName, loadConfig } from '../../config/index.js';
import { ConfigError } from '../../src/errors.js';
import { tempDir } from '../helpers/tmp.js';

test('defaults: NATS at 127.0.0.1:4222, TTL 15 s', (t) => {
  const c = loadConfig({ env: {} });
  t.is(c.nats.url, 'nats://127.0.0.1:4222');
  t.is(c.tracker.ttlMs, 15_000);
  t.is(c.prefix, 'p2p');
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
