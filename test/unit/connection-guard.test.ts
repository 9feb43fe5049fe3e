// The chunk server's per-connection guard, with a hand-moved clock: the handshake and every frame
// are due within the frame timeout (however slowly the bytes trickle), idle and stalled
// connections are told to go, and the swarm-key handshake takes only the right proof.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { FrameParser, type FrameEvent } from '../../src/protocol/frames.js';
import { ConnectionGuard } from '../../src/transport/connection-guard.js';
import { clientProof, macEquals, parseSwarmKey, serverProof } from '../../src/transport/swarm-auth.js';

const limits = { frameTimeoutMs: 1000, idleTimeoutMs: 5000 };
const quiet = { paused: false, needDrain: false, working: false };

function decode(frame: Buffer): FrameEvent {
  let out: FrameEvent | undefined;
  new FrameParser().push(frame, (e) => (out = e));
  return out!;
}

test('a new connection must send its first frame within the frame timeout', (t) => {
  const g = new ConnectionGuard(limits, undefined, 0, false);
  g.hello();
  t.is(g.verdict(999, quiet), undefined);
  t.is(g.verdict(1000, quiet), 'timeout');
});

test('a trickled frame is due from its first byte, not its latest one', (t) => {
  const g = new ConnectionGuard(limits, undefined, 0, false);
  g.hello();
  g.requested();
  g.afterInput(true, false, 100); // a whole request
  t.is(g.verdict(3000, quiet), undefined, 'between requests only the idle timeout applies');
  g.afterInput(false, true, 3000); // first byte of the next one
  for (let at = 3100; at < 4000; at += 100) {
    g.afterInput(false, true, at); // one more byte every 100 ms
    t.is(g.verdict(at, quiet), undefined);
  }
  t.is(g.verdict(4000, quiet), 'timeout');
});

test('while we stop reading (our backpressure) the deadline waits, and restarts when we resume', (t) => {
  const g = new ConnectionGuard(limits, undefined, 0, false);
  g.hello();
  g.requested();
  g.afterInput(true, true, 100); // a request, and half of the next one
  t.is(g.verdict(5000, { ...quiet, paused: true, working: true }), undefined);
  g.resumed(true, 5000);
  t.is(g.verdict(5999, { ...quiet, working: true }), undefined);
  t.is(g.verdict(6000, { ...quiet, working: true }), 'timeout');
});

test('idle: no request for idleTimeoutMs and nothing under way', (t) => {
  const g = new ConnectionGuard(limits, undefined, 0, false);
  g.hello();
  g.requested();
  g.afterInput(true, false, 100);
  t.is(g.verdict(5099, quiet), undefined);
  t.is(g.verdict(5100, { ...quiet, working: true }), undefined, 'still sending answers: not idle');
  t.is(g.verdict(5100, quiet), 'idle');
});

test('stalled: answers not read for idleTimeoutMs, unless the socket drained meanwhile', (t) => {
  const g = new ConnectionGuard(limits, undefined, 0, false);
  g.hello();
  g.requested();
  g.afterInput(true, false, 0);
  const stuck = { ...quiet, needDrain: true, working: true };
  t.is(g.verdict(100, stuck), undefined);
  g.drained();
  t.is(g.verdict(5200, stuck), undefined, 'the stall counts from after the drain');
  t.is(g.verdict(10_199, stuck), undefined);
  t.is(g.verdict(10_200, stuck), 'stalled');
});

test('swarm key: HELLO carries a nonce; only the right proof opens the connection, and the answer proves the key back', (t) => {
  const key = randomBytes(32);
  const g = new ConnectionGuard(limits, key, 0, false);
  const hello = decode(g.hello());
  t.like(hello, { type: 'hello', mode: 1 });
  if (hello.type !== 'hello') return;
  t.is(g.phase, 'auth');
  const clientNonce = randomBytes(32);
  t.is(g.authenticate({ type: 'auth', nonce: clientNonce, mac: clientProof(randomBytes(32), hello.nonce, clientNonce) }), undefined, 'wrong key');
  t.is(g.authenticate({ type: 'auth', nonce: clientNonce, mac: serverProof(key, hello.nonce, clientNonce) }), undefined, 'the server-direction proof');
  t.is(g.phase, 'auth');
  const ok = g.authenticate({ type: 'auth', nonce: clientNonce, mac: clientProof(key, hello.nonce, clientNonce) });
  t.truthy(ok);
  t.is(g.phase, 'open');
  const answer = decode(ok!);
  t.true(answer.type === 'auth-ok' && macEquals(answer.mac, serverProof(key, hello.nonce, clientNonce)));
  t.is(g.authenticate({ type: 'auth', nonce: clientNonce, mac: clientProof(key, hello.nonce, clientNonce) }), undefined, 'only once');
  t.is(g.verdict(999, quiet), undefined);
});

test('the handshake counts: AUTH and then the first request are each due within the frame timeout', (t) => {
  const key = randomBytes(32);
  const g = new ConnectionGuard(limits, key, 0, true);
  t.is(g.phase, 'tls');
  t.is(g.verdict(1000, quiet), 'timeout', 'a TLS handshake that never ends');
  const h = new ConnectionGuard(limits, key, 0, false);
  h.hello();
  h.afterInput(true, false, 900); // AUTH arrived (checked or not)
  t.is(h.verdict(1800, quiet), undefined);
  t.is(h.verdict(1900, quiet), 'timeout');
});

test('swarm keys: 64 hex digits only; proofs differ by direction; wrong-length MACs never match', (t) => {
  t.deepEqual(parseSwarmKey(` ${'ab'.repeat(32)}\n`), Buffer.alloc(32, 0xab));
  for (const bad of ['', 'ab'.repeat(31), 'zz'.repeat(32), 'ab'.repeat(33), 'correct horse battery staple']) t.is(parseSwarmKey(bad), undefined, bad);
  const [key, a, b] = [randomBytes(32), randomBytes(32), randomBytes(32)];
  t.false(clientProof(key, a, b).equals(serverProof(key, a, b)));
  t.false(clientProof(key, a, b).equals(clientProof(key, b, a)));
  t.false(macEquals(clientProof(key, a, b).subarray(0, 16), clientProof(key, a, b)));
  t.true(macEquals(clientProof(key, a, b), clientProof(key, a, b)));
});
