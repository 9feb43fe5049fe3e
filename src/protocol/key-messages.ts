// Messages about whose key a peer id is (issue 9, class 2): kept apart from messages.ts, which
// holds the rest of the wire. The tracker answers them from its bindings (see src/identity.ts).
import { z } from 'zod';
import { PeerId, Version } from './messages.js';

/** The base64url text of a raw 32-byte Ed25519 public key (see src/identity.ts). */
export const PublicKey = z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'a key is 43 base64url characters');

/** anyone → tracker (request): which key is this peer id bound to? (checking a peer's signature) */
export const KeyRequest = z.object({ v: Version, peerId: PeerId });
export type KeyRequest = z.infer<typeof KeyRequest>;
/** `key` absent: nobody has signed for this id yet. `live`: the peer is registered now. */
export const KeyReply = z.object({ v: Version, ok: z.literal(true), peerId: PeerId, key: PublicKey.optional(), live: z.boolean() });
export type KeyReply = z.infer<typeof KeyReply>;
