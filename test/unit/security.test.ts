// Data-plane security settings: the swarm key from a file or from the env, TLS files, and the
// configuration keys with their env names; every mistake is a ConfigError that says what to fix.
import test from 'ava';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadConfig } from '../../config/index.js';
import { ConfigError } from '../../src/errors.js';
import { loadDataPlaneSecurity } from '../../src/transport/security.js';
import { tempDir } from '../helpers/tmp.js';

const HEX = 'c0ffee'.repeat(10) + 'c0ff';
const none = { swarmKeyFile: '', swarmKey: '', tls: { cert: '', key: '', ca: '' } };

test('defaults: open, plain TCP, caps and timeouts; env names follow the keys', (t) => {
  const c = loadConfig({ env: {} });
  t.deepEqual([c.peer.maxConnectionsPerAddress, c.peer.frameTimeoutMs, c.peer.idleTimeoutMs], [32, 10_000, 60_000]);
  t.deepEqual(loadDataPlaneSecurity(c.peer), { server: {}, client: {}, warnings: [] });
  const e = loadConfig({
    env: {
      P2P_PEER_SWARM_KEY_FILE: '/k',
      P2P_PEER_TLS_CERT: '/c',
      P2P_PEER_TLS_KEY: '/k2',
      P2P_PEER_TLS_CA: '/ca',
      P2P_PEER_FRAME_TIMEOUT_MS: '500',
      P2P_PEER_MAX_CONNECTIONS_PER_ADDRESS: '4',
    },
  });
  t.deepEqual([e.peer.swarmKeyFile, e.peer.tls, e.peer.frameTimeoutMs, e.peer.maxConnectionsPerAddress], ['/k', { cert: '/c', key: '/k2', ca: '/ca' }, 500, 4]);
  t.throws(() => loadConfig({ env: { P2P_PEER_MAX_CONNECTIONS_PER_ADDRESS: '0' } }), { instanceOf: ConfigError, message: /maxConnectionsPerAddress/ });
});

test('a key file with 64 hex digits is the key on both sides; others able to read it get a warning', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'swarm.key');
  await writeFile(file, HEX + '\n', { mode: 0o600 });
  const s = loadDataPlaneSecurity({ ...none, swarmKeyFile: file });
  t.deepEqual(s.server.swarmKey, Buffer.from(HEX, 'hex'));
  t.deepEqual(s.client.swarmKey, Buffer.from(HEX, 'hex'));
  t.deepEqual(s.warnings, []);
  await chmod(file, 0o644);
  t.regex(loadDataPlaneSecurity({ ...none, swarmKeyFile: file }).warnings.join(), /readable by others.*chmod 600/);
  t.deepEqual(loadDataPlaneSecurity({ ...none, swarmKey: HEX }).client.swarmKey, Buffer.from(HEX, 'hex'));
});

test('mistakes are ConfigErrors naming what to fix', async (t) => {
  const dir = await tempDir(t);
  const bad = join(dir, 'bad.key');
  await writeFile(bad, 'hunter2\n', { mode: 0o600 });
  t.throws(() => loadDataPlaneSecurity({ ...none, swarmKeyFile: bad }), { instanceOf: ConfigError, message: /malformed.*p2p keygen/ });
  t.throws(() => loadDataPlaneSecurity({ ...none, swarmKeyFile: join(dir, 'missing') }), { instanceOf: ConfigError, message: /P2P_PEER_SWARM_KEY_FILE/ });
  t.throws(() => loadDataPlaneSecurity({ ...none, swarmKey: 'short' }), { instanceOf: ConfigError, message: /P2P_PEER_SWARM_KEY\b/ });
  t.throws(() => loadDataPlaneSecurity({ ...none, swarmKey: HEX, swarmKeyFile: bad }), { instanceOf: ConfigError, message: /not both/ });
  t.throws(() => loadDataPlaneSecurity({ ...none, tls: { cert: bad, key: '', ca: '' } }), { instanceOf: ConfigError, message: /go together/ });
  t.throws(() => loadDataPlaneSecurity({ ...none, tls: { cert: '', key: '', ca: join(dir, 'missing.pem') } }), { instanceOf: ConfigError, message: /P2P_PEER_TLS_CA/ });
  t.throws(() => loadDataPlaneSecurity({ ...none, tls: { cert: bad, key: bad, ca: '' } }), { instanceOf: ConfigError, message: /cannot use the TLS certificate/ });
});
