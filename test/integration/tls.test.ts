// TLS on chunk connections, with a throwaway CA made by `openssl` (skipped, saying so, when it is
// missing): a TLS server and a client trusting its CA fetch a file (with the swarm key on top);
// a certificate from another CA is refused as untrusted; plain and TLS sides do not mix.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { AuthFailedError, BusyError, PeerUnreachableError } from '../../src/errors.js';
import { PeerConnection } from '../../src/transport/chunk-client.js';
import { fetchFile } from '../../src/download/fetch.js';
import { CHUNK, fetchOptions, joinedSha256, logger, openPartial, sha256, sharedFile, source, startServer } from '../helpers/chunks.js';
import { haveOpenssl, makeCa } from '../helpers/certs.js';

const openssl = haveOpenssl();
const tlsTest = openssl ? test : test.skip;
if (!openssl) process.stderr.write('tls.test.ts: openssl not found on PATH, the TLS tests are skipped\n');

const local = (port: number) => ({ host: '127.0.0.1', port });

tlsTest('a TLS chunk server and a client trusting its CA: the download completes, with the swarm key on top', async (t) => {
  const ca = await makeCa(t, 'swarm ca');
  const peer = await ca.issue('seeder');
  const swarmKey = randomBytes(32);
  const file = await sharedFile(t, 2 * 1024 * 1024);
  const { server, port } = await startServer(t, [file], {}, { security: { swarmKey, tls: createSecureContext({ cert: peer.certPem, key: peer.keyPem }) } });
  const partial = await openPartial(t, file);
  const outcome = await fetchFile(fetchOptions(file, partial, [source('seeder', port)], { security: { swarmKey, tls: { ca: ca.certPem } } }));
  t.deepEqual(outcome, { outcome: 'complete' });
  t.is(await joinedSha256(t, partial), sha256(file.data));
  t.is(server.stats.chunks, file.manifest.hashes.length);
});

tlsTest('a server whose certificate another CA signed is refused as untrusted, and dropped', async (t) => {
  const ours = await makeCa(t, 'our ca');
  const theirs = await makeCa(t, 'their ca');
  const rogue = await theirs.issue('rogue');
  const file = await sharedFile(t, 4 * CHUNK);
  const { port } = await startServer(t, [file], {}, { security: { tls: createSecureContext({ cert: rogue.certPem, key: rogue.keyPem }) } });
  const err = await t.throwsAsync(PeerConnection.connect(local(port), { timeoutMs: 3000, logger, maxChunkBytes: CHUNK, security: { tls: { ca: ours.certPem } } }), {
    instanceOf: AuthFailedError,
  });
  t.regex(err!.message, /TLS certificate is not trusted/);
  const partial = await openPartial(t, file);
  const dropped: string[] = [];
  const outcome = await fetchFile(
    fetchOptions(file, partial, [source('rogue', port)], { security: { tls: { ca: ours.certPem } }, onSourceEvent: (e) => e.kind === 'dropped' && dropped.push(e.detail ?? '') }),
  );
  t.is(outcome.outcome, 'exhausted');
  t.is(dropped.length, 1);
  t.regex(dropped[0]!, /^AUTH_FAILED/);
});

tlsTest('plain and TLS do not mix: each side fails at once with a clear error', async (t) => {
  const ca = await makeCa(t, 'swarm ca');
  const peer = await ca.issue('seeder');
  const file = await sharedFile(t, 4 * CHUNK);
  const tlsServer = await startServer(t, [file], {}, { security: { tls: createSecureContext({ cert: peer.certPem, key: peer.keyPem }) } });
  const plainServer = await startServer(t, [file]);
  const opts = { timeoutMs: 3000, logger, maxChunkBytes: CHUNK };
  // a TLS client against a plain server: the handshake fails
  const err = await t.throwsAsync(PeerConnection.connect(local(plainServer.port), { ...opts, security: { tls: { ca: ca.certPem } } }), { instanceOf: PeerUnreachableError });
  t.regex(err!.message, /TLS handshake .* failed/);
  // a plain client against a TLS server: the server drops the connection
  const plain = await PeerConnection.connect(local(tlsServer.port), opts);
  t.teardown(() => plain.close());
  await t.throwsAsync(plain.getManifest(file.fileId), { instanceOf: PeerUnreachableError });
});

tlsTest('over its caps a TLS server still says BUSY (over TLS) before it closes', async (t) => {
  const ca = await makeCa(t, 'swarm ca');
  const peer = await ca.issue('seeder');
  const file = await sharedFile(t, 4 * CHUNK);
  const { port } = await startServer(t, [file], { maxConnections: 1 }, { security: { tls: createSecureContext({ cert: peer.certPem, key: peer.keyPem }) } });
  const opts = { timeoutMs: 3000, logger, maxChunkBytes: CHUNK, security: { tls: { ca: ca.certPem } } };
  const first = await PeerConnection.connect(local(port), opts);
  t.teardown(() => first.close());
  t.deepEqual(await first.getManifest(file.fileId), file.manifest);
  const second = await PeerConnection.connect(local(port), opts);
  t.teardown(() => second.close());
  await t.throwsAsync(second.getManifest(file.fileId), { instanceOf: BusyError, message: /too many connections/ });
});
