// A peer's identity: the public key it names is the one it signs with, whether the key was just
// made (its public half taken from the SPKI encoding, never exported from the fresh key: see
// newKeyPair in src/identity.ts) or loaded back from DIR/.p2p/identity.key.
import test from 'ava';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { PeerIdentity, verifySignature } from '../../src/identity.js';

const payload = new Uint8Array([1, 2, 3, 4]);

test('a fresh identity names the key it signs with', (t) => {
  for (let i = 0; i < 200; i++) {
    const id = PeerIdentity.ephemeral();
    t.is(verifySignature('p2p.x', payload, id.sign('p2p.x', payload)).key, id.publicKey);
    t.regex(id.publicKey, /^[A-Za-z0-9_-]{43}$/);
  }
});

test('a created key file loads back as the same identity, mode 0600', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'p2p-id-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'identity.key');
  const made = await PeerIdentity.loadOrCreate(file);
  t.is((await stat(file)).mode & 0o777, 0o600);
  const pem = await readFile(file, 'utf8');
  t.is(createPublicKey(createPrivateKey(pem)).export({ format: 'jwk' }).x, made.publicKey, 'the named key is the file’s');
  const loaded = await PeerIdentity.loadOrCreate(file);
  t.is(loaded.publicKey, made.publicKey);
  t.is(verifySignature('p2p.x', payload, loaded.sign('p2p.x', payload)).key, made.publicKey);
});
