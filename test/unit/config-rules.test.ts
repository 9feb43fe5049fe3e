// config/load.ts's zod-free RULES against ConfigSchema (config/index.ts): the same keys, the same
// result on the defaults and on values as env and files give them (strings of digits, `20M`),
// and never accepting what the schema refuses. loadConfigLight then gives loadConfig's answers
// and its errors naming the key and where the value came from.
import test from 'ava';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import defaults from '../../config/default.json' with { type: 'json' };
import { ConfigSchema, loadConfig } from '../../config/index.js';
import { RULES, checkRules, loadConfigLight } from '../../config/load.js';
import { ConfigError } from '../../src/errors.js';
import { DELETE, JUNK, agree, compareSuite, mutate, paths } from '../helpers/checked-compare.js';
import { tempDir } from '../helpers/tmp.js';

const check = (v: unknown) => checkRules(RULES, v);

/** Key paths of a nested object of leaves. */
function leaves(o: object, prefix = ''): string[] {
  return Object.entries(o).flatMap(([k, v]) => (v && typeof v === 'object' && typeof v !== 'function' && !Array.isArray(v) && !('_zod' in v) ? leaves(v, `${prefix}${k}.`) : [`${prefix}${k}`]));
}

test('the rules have exactly the schema’s keys, and the defaults’', (t) => {
  const schemaKeys = (s: { shape: Record<string, unknown> }, prefix = ''): string[] =>
    Object.entries(s.shape).flatMap(([k, v]) => ('shape' in (v as object) ? schemaKeys(v as { shape: Record<string, unknown> }, `${prefix}${k}.`) : [`${prefix}${k}`]));
  t.deepEqual(leaves(RULES).sort(), schemaKeys(ConfigSchema).sort());
  t.deepEqual(leaves(defaults).sort(), leaves(RULES).sort());
});

compareSuite('config', ConfigSchema, check, [defaults, { ...defaults, extra: { deep: 1 } }], 40);

// what env variables and files put in: strings, and byte counts people type
const TYPED: unknown[] = ['12', '0012', ' 12', '12 ', '-1', '0', '1e3', '0x10', '1.5', '', '20M', '512K', '1.5G', 'fast', '86400000', '86400001', '65535', '65536', 'kv', 'memory', 'debug', 'silent', 'a.b', 'a..b', 'x y'];

test('every leaf given a typed string or junk: the rules never accept what the schema refuses, and agree when both accept', (t) => {
  let accepted = 0;
  for (const path of paths(defaults)) {
    for (const to of [DELETE, ...TYPED, ...JUNK]) if (agree(t, ConfigSchema, check, mutate(defaults, path, to), `${path.join('.')} = ${String(to === DELETE ? 'deleted' : JSON.stringify(to))}`)) accepted++;
  }
  t.true(accepted > 100, `${accepted}`);
});

test('loadConfigLight: the same config as loadConfig, and the same errors', async (t) => {
  const env = { P2P_PEER_UPLOAD_BPS: '20M', P2P_TRACKER_TTL_MS: '2000', P2P_PEER_PORT: '0' };
  t.deepEqual(await loadConfigLight({ env }), loadConfig({ env }));
  const dir = await tempDir(t);
  const file = join(dir, 'c.json');
  await writeFile(file, JSON.stringify({ peer: { port: 'abc' } }));
  const light = await t.throwsAsync(loadConfigLight({ file, env: {} }), { instanceOf: ConfigError });
  const heavy = t.throws(() => loadConfig({ file, env: {} }), { instanceOf: ConfigError });
  t.is(light!.message, heavy!.message);
  t.regex(light!.message, /bad configuration peer\.port in config file/);
  const flag = await t.throwsAsync(loadConfigLight({ env: {}, overrides: { prefix: 'a b' } }), { instanceOf: ConfigError });
  t.regex(flag!.message, /prefix from the command line/);
  // a value the rules are stricter about than zod's coerce (' 12') is still accepted, by zod
  t.is((await loadConfigLight({ env: { P2P_PEER_PORT: ' 12' } })).peer.port, 12);
});

test('loadConfigLight warns once about unknown keys of the file, valid or not', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'c.json');
  await writeFile(file, JSON.stringify({ peer: { prot: 1 } }));
  const warnings: string[] = [];
  await loadConfigLight({ file, env: {}, warn: (m) => warnings.push(m) });
  t.deepEqual(warnings, [`config file ${file}: unknown key peer.prot (ignored)`]);
  // also when a bad value sends the check to zod
  await writeFile(file, JSON.stringify({ peer: { prot: 1, port: -1 } }));
  await t.throwsAsync(loadConfigLight({ file, env: {}, warn: (m) => warnings.push(m) }), { instanceOf: ConfigError });
  t.is(warnings.length, 2);
});
