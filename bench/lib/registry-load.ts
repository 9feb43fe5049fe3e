// Synthetic tracker load, sent by the bench itself over NATS with the project's own codec:
// 10 000 peers × 100 files (a universe of 100 000 files, so every file has 10 sources), their
// announces pre-encoded, and lookup / echo senders that check every answer.
import { createHash } from 'node:crypto';
import { PeerIdentity } from '../../src/identity.js';
import { decodeRaw, encode } from '../../src/protocol/codec.js';
import { PROTOCOL_VERSION, type AnnounceRequest, type FileMeta } from '../../src/protocol/messages.js';
import type { Requester } from './requester.js';

export const PEERS = 10_000;
export const FILES_PER_PEER = 100;
export const UNIVERSE = 100_000;

function fileId(k: number): string {
  return createHash('sha256').update(`bench-file-${k}`).digest('hex');
}

/** The file universe: k → FileMeta. */
export function makeFiles(): FileMeta[] {
  return Array.from({ length: UNIVERSE }, (_, k) => ({
    fileId: fileId(k),
    name: `bench-file-${k}.bin`,
    size: (1 + (k % 100)) * 1024 * 1024,
    chunkSize: 1024 * 1024,
    chunkCount: 1 + (k % 100),
  }));
}

/** Peer i's announce (replace: its whole set of 100 files), encoded once, and its signing key. */
export interface Announce {
  payload: Uint8Array;
  /** each bench peer signs as a real one does (the tracker binds the id to its key) */
  identity: PeerIdentity;
}

export function makeAnnounces(files: FileMeta[]): Announce[] {
  return Array.from({ length: PEERS }, (_, i) => {
    const msg: AnnounceRequest = {
      v: PROTOCOL_VERSION,
      peerId: `bench-peer-${i}`,
      endpoint: { host: '127.0.0.1', port: 1024 + (i % 60_000) },
      replace: true,
      files: Array.from({ length: FILES_PER_PEER }, (_, j) => files[(i * FILES_PER_PEER + j) % UNIVERSE]!),
      removed: [],
    };
    return { payload: encode(msg), identity: PeerIdentity.ephemeral() };
  });
}

function checkOk(data: Uint8Array, what: string): Record<string, unknown> {
  const raw = decodeRaw(data) as Record<string, unknown> | null;
  if (!raw || typeof raw !== 'object' || raw.ok !== true) {
    const code = raw && typeof raw === 'object' ? String(raw.code) : 'garbage';
    throw new Error(`${what}: not ok (${code})`);
  }
  return raw;
}

/** Send every announce, `concurrency` in flight; resolves with the elapsed ms. */
export async function registerAll(rq: Requester, subject: string, announces: Announce[], concurrency = 128): Promise<number> {
  const started = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < announces.length) {
      const a = announces[next++]!;
      checkOk(await rq.request(subject, a.payload, a.identity.sign(subject, a.payload)), 'announce');
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return performance.now() - started;
}

/** Lookups by fileId of random files; each answer must be ok with one match and ≥ 1 source. */
export function lookupSender(rq: Requester, subject: string, files: FileMeta[]): (i: number) => Promise<void> {
  const payloads = Array.from({ length: 20_000 }, () => encode({ v: PROTOCOL_VERSION, fileId: files[Math.floor(Math.random() * files.length)]!.fileId }));
  return async (i) => {
    const reply = checkOk(await rq.request(subject, payloads[i % payloads.length]!), 'lookup');
    const matches = reply.matches as Array<{ sources?: unknown[] }> | undefined;
    if (!Array.isArray(matches) || matches.length !== 1 || !matches[0]!.sources?.length) throw new Error('lookup: no match or no source');
  };
}

/** The same request bytes to the echo responder; the answer must be the bytes sent. */
export function echoSender(rq: Requester, subject: string, files: FileMeta[]): (i: number) => Promise<void> {
  const payload = encode({ v: PROTOCOL_VERSION, fileId: files[0]!.fileId });
  return async () => {
    const data = await rq.request(subject, payload);
    if (data.length !== payload.length) throw new Error('echo: wrong answer');
  };
}

/**
 * Heartbeats (signed, as a peer sends them every 5 s) cycling through the peers: what a tracker's
 * steady state is made of once a LAN's peers are all announced.
 */
export function heartbeatSender(rq: Requester, subject: string, announces: Announce[]): (i: number) => Promise<void> {
  const payloads = announces.map((_, i) => encode({ v: PROTOCOL_VERSION, peerId: `bench-peer-${i}`, endpoint: { host: '127.0.0.1', port: 1024 + (i % 60_000) }, fileCount: FILES_PER_PEER }));
  return async (i) => {
    const k = i % announces.length;
    const reply = checkOk(await rq.request(subject, payloads[k]!, announces[k]!.identity.sign(subject, payloads[k]!)), 'heartbeat');
    if (reply.known !== true) throw new Error('heartbeat: the tracker does not know the peer');
  };
}

/** A sender of re-announces whose signatures can be made ahead of the measured window. */
export type AnnounceSender = ((i: number) => Promise<void>) & {
  /**
   * Sign the next `count` sends now (fresh timestamps, so none is a replay): a step's latency
   * probe runs in this process, and signing 800 announces a second beside it (Ed25519 over 14 KB,
   * with the garbage it makes) delayed the probe's own answers by up to 16 ms.
   */
  prepare(count: number): void;
};

/** Re-announces (replace, same files, freshly signed) cycling through the peers. */
export function announceSender(rq: Requester, subject: string, announces: Announce[]): AnnounceSender {
  let signed: Array<ReturnType<PeerIdentity['sign']>> = [];
  const send = async (i: number) => {
    const a = announces[i % announces.length]!;
    checkOk(await rq.request(subject, a.payload, signed[i] ?? a.identity.sign(subject, a.payload)), 'announce');
  };
  return Object.assign(send, {
    prepare(count: number): void {
      signed = Array.from({ length: count }, (_, i) => {
        const a = announces[i % announces.length]!;
        return a.identity.sign(subject, a.payload);
      });
    },
  });
}
