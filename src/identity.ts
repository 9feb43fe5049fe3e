// A peer's signing identity (Ed25519, kept in DIR/.p2p/identity.key) and the signature that
// travels in NATS headers with announces, heartbeats and byes, so the tracker can bind a peer id
// to the key that first announced it: nobody else can announce, refresh or drop that id.
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { headers as natsHeaders, type MsgHdrs } from 'nats';
import { PermissionDeniedError } from './errors.js';

/** Header names (NATS headers, so the msgpack payload is signed byte for byte as sent). */
export const SIG_HEADERS = { key: 'p2p-key', ts: 'p2p-ts', sig: 'p2p-sig' } as const;
/** Signatures older or newer than this (ms) are refused: bounds replays and clock skew. */
export const MAX_SKEW_MS = 5 * 60_000;

function signedBytes(subject: string, ts: number, payload: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(`p2p-sig/1\n${subject}\n${ts}\n`, 'utf8'), payload]);
}

/**
 * Keys are generated with their public half encoded (SPKI DER, whose last 32 bytes are the raw
 * key), never exported from the fresh KeyObject: node 20 can deadlock when a key just made by
 * generateKeyPairSync is exported (a GC during the export runs the generation job's destructor,
 * which waits for the lock the export holds). The bench hung that way making 10 000 identities.
 */
function newKeyPair(privateAs: 'object'): { privateKey: KeyObject; publicKey: string };
function newKeyPair(privateAs: 'pem'): { privateKey: string; publicKey: string };
function newKeyPair(privateAs: 'object' | 'pem'): { privateKey: KeyObject | string; publicKey: string } {
  const spki = { type: 'spki', format: 'der' } as const;
  const pair =
    privateAs === 'pem'
      ? generateKeyPairSync('ed25519', { publicKeyEncoding: spki, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } })
      : generateKeyPairSync('ed25519', { publicKeyEncoding: spki });
  return { privateKey: pair.privateKey, publicKey: (pair.publicKey as Buffer).subarray(-32).toString('base64url') };
}

/** Holds the private key; signs outgoing messages with strictly increasing timestamps. */
export class PeerIdentity {
  private lastTs = 0;
  /** base64url of the raw 32-byte public key */
  readonly publicKey: string;

  private constructor(
    private readonly key: KeyObject,
    publicKey?: string,
  ) {
    this.publicKey = publicKey ?? createPublicKey(key).export({ format: 'jwk' }).x!;
  }

  /** Load DIR/.p2p/identity.key, or create it (mode 0600) on first start. */
  static async loadOrCreate(file: string): Promise<PeerIdentity> {
    try {
      return new PeerIdentity(createPrivateKey(await readFile(file, 'utf8')));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const { privateKey, publicKey } = newKeyPair('pem');
    await writeFile(file, privateKey, { mode: 0o600, flag: 'wx' });
    return new PeerIdentity(createPrivateKey(privateKey), publicKey);
  }

  /** A fresh identity in memory (tests). */
  static ephemeral(): PeerIdentity {
    const { privateKey, publicKey } = newKeyPair('object');
    return new PeerIdentity(privateKey, publicKey);
  }

  /** Headers carrying key, timestamp and signature over subject + timestamp + payload. */
  sign(subject: string, payload: Uint8Array, now = Date.now()): MsgHdrs {
    const ts = Math.max(now, this.lastTs + 1);
    this.lastTs = ts;
    const h = natsHeaders();
    h.set(SIG_HEADERS.key, this.publicKey);
    h.set(SIG_HEADERS.ts, String(ts));
    h.set(SIG_HEADERS.sig, sign(null, signedBytes(subject, ts, payload), this.key).toString('base64url'));
    return h;
  }
}

/** A verified signer: its public key and the message's timestamp. */
export interface Signer {
  key: string;
  ts: number;
}

/** Check the signature headers of a message; throws PermissionDeniedError when absent or wrong. */
export function verifySignature(subject: string, payload: Uint8Array, h: MsgHdrs | undefined, now = Date.now()): Signer {
  const key = h?.get(SIG_HEADERS.key) ?? '';
  const tsText = h?.get(SIG_HEADERS.ts) ?? '';
  const sig = h?.get(SIG_HEADERS.sig) ?? '';
  if (!key || !tsText || !sig) throw new PermissionDeniedError('message is not signed (p2p-key, p2p-ts, p2p-sig headers)');
  if (!/^[A-Za-z0-9_-]{43}$/.test(key) || !/^\d{1,16}$/.test(tsText) || sig.length > 200) throw new PermissionDeniedError('malformed signature headers');
  const ts = Number(tsText);
  if (Math.abs(now - ts) > MAX_SKEW_MS) throw new PermissionDeniedError('signature timestamp too far from now (check the clock)');
  if (!verify(null, signedBytes(subject, ts, payload), publicKeyOf(key), Buffer.from(sig, 'base64url'))) throw new PermissionDeniedError('bad signature');
  return { key, ts };
}

/** Parsed public keys by their base64url text: a peer signs every few seconds with the same one. */
const keyCache = new Map<string, KeyObject>();
const KEY_CACHE_MAX = 50_000;

function publicKeyOf(key: string): KeyObject {
  let publicKey = keyCache.get(key);
  if (publicKey) return publicKey;
  try {
    publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: key }, format: 'jwk' });
  } catch {
    throw new PermissionDeniedError('signature key is not an Ed25519 public key');
  }
  // bounded: a flood of fresh keys evicts the oldest entries, never grows the map past the cap
  if (keyCache.size >= KEY_CACHE_MAX) keyCache.delete(keyCache.keys().next().value!);
  keyCache.set(key, publicKey);
  return publicKey;
}

/**
 * Trust on first use: the first key that signs for a peer id owns it while this tracker runs.
 * Later messages for that id must carry the same key and a newer timestamp (no replays).
 */
export class IdentityBindings {
  private readonly byPeer = new Map<string, { key: string; lastTs: number }>();

  constructor(private readonly maxEntries = 200_000) {}

  /**
   * Throws PermissionDeniedError if `peerId` belongs to another key or the message is a replay.
   * Returns true when this call created the binding (a store that persists bindings saves then).
   */
  check(peerId: string, signer: Signer): boolean {
    const bound = this.byPeer.get(peerId);
    if (!bound) {
      this.restore(peerId, signer.key, signer.ts);
      return true;
    }
    if (bound.key !== signer.key) throw new PermissionDeniedError(`peer id ${peerId} belongs to another identity`);
    if (signer.ts <= bound.lastTs) throw new PermissionDeniedError(`replayed or out-of-order message for ${peerId}`);
    bound.lastTs = signer.ts;
    return false;
  }

  /** Put a binding back (loaded from disk); the latest timestamp seen guards against replays. */
  restore(peerId: string, key: string, lastTs: number): void {
    // bounded: the oldest bindings go first when a flood of new ids arrives
    if (!this.byPeer.has(peerId) && this.byPeer.size >= this.maxEntries) this.byPeer.delete(this.byPeer.keys().next().value!);
    this.byPeer.set(peerId, { key, lastTs });
  }

  /** The key bound to `peerId`, if any. */
  keyOf(peerId: string): string | undefined {
    return this.byPeer.get(peerId)?.key;
  }

  /** Every binding, oldest first (what a store writes to disk). */
  entries(): Array<[peerId: string, key: string, lastTs: number]> {
    return [...this.byPeer].map(([peerId, b]) => [peerId, b.key, b.lastTs]);
  }

  get size(): number {
    return this.byPeer.size;
  }
}
