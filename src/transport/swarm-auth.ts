// The swarm key: a shared secret that chunk servers can require of whoever asks them. The proofs
// are HMAC-SHA256 over both sides' nonces, with a label per direction so that one side's proof
// can never be replayed as the other's; they are compared in constant time.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { AuthFailedError } from '../errors.js';
import { MAC_BYTES, NONCE_BYTES } from '../protocol/frame-layout.js';
import { encodeAuth } from '../protocol/frame-encode.js';

/** Bytes of a swarm key (`p2p keygen` writes them as 64 hex digits). */
export const SWARM_KEY_BYTES = 32;

const CLIENT_LABEL = Buffer.from('p2p-swarm-key/1 client\n', 'latin1');
const SERVER_LABEL = Buffer.from('p2p-swarm-key/1 server\n', 'latin1');

/** A fresh random nonce for one handshake. */
export function newNonce(): Buffer {
  return randomBytes(NONCE_BYTES);
}

/** The client's proof: HMAC(key, client label ‖ serverNonce ‖ clientNonce). */
export function clientProof(key: Buffer, serverNonce: Buffer, clientNonce: Buffer): Buffer {
  return createHmac('sha256', key).update(CLIENT_LABEL).update(serverNonce).update(clientNonce).digest();
}

/** The server's proof: HMAC(key, server label ‖ clientNonce ‖ serverNonce) — the other order. */
export function serverProof(key: Buffer, serverNonce: Buffer, clientNonce: Buffer): Buffer {
  return createHmac('sha256', key).update(SERVER_LABEL).update(clientNonce).update(serverNonce).digest();
}

/** Constant-time comparison of a received MAC with the expected one. */
export function macEquals(received: Buffer, expected: Buffer): boolean {
  return received.length === MAC_BYTES && expected.length === MAC_BYTES && timingSafeEqual(received, expected);
}

/** Parse a swarm key's text (64 hex digits, surrounding white space ignored); undefined if malformed. */
export function parseSwarmKey(text: string): Buffer | undefined {
  const hex = text.trim();
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) return undefined;
  return Buffer.from(hex, 'hex');
}

/** A new random swarm key as the text `p2p keygen` writes: 64 lowercase hex digits and a newline. */
export function newSwarmKeyText(): string {
  return randomBytes(SWARM_KEY_BYTES).toString('hex') + '\n';
}

/**
 * A client's answer to a server's HELLO: nothing to do (neither side has a key), an
 * AuthFailedError (only one side has one), or the AUTH frame to send and the nonces to check
 * the server's proof with.
 */
export function answerHello(
  key: Buffer | undefined,
  serverWantsKey: boolean,
  serverNonce: Buffer,
  remote: string,
): undefined | AuthFailedError | { frame: Buffer; nonces: { server: Buffer; client: Buffer } } {
  if (!key) return serverWantsKey ? new AuthFailedError(`${remote} requires a swarm key: this peer has none (peer.swarmKeyFile)`) : undefined;
  if (!serverWantsKey) return new AuthFailedError(`${remote} did not prove the swarm key: it runs without one`);
  const client = newNonce();
  return { frame: encodeAuth(client, clientProof(key, serverNonce, client)), nonces: { server: serverNonce, client } };
}
