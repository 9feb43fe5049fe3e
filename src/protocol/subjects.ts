// Every NATS subject, built by functions from one prefix (config `prefix`, default "p2p"), so
// several swarms (and every test) can share a broker. Never write a subject inline elsewhere.
import { FILE_ID_PATTERN, TOKEN_PATTERN as TOKEN } from './ids.js';

/** Subjects for one swarm prefix. */
export interface Subjects {
  announce: string;
  heartbeat: string;
  bye: string;
  lookup: string;
  list: string;
  /** the peers the tracker knows (PeersRequest → PeersReply) */
  peers: string;
  /** which key a peer id is bound to (KeyRequest → KeyReply) */
  key: string;
  hello: string;
  intent(peerId: string): string;
  cancel(peerId: string): string;
  status(peerId: string): string;
  trace(peerId: string): string;
  progressOf(peerId: string, downloadId: string): string;
  traceOf(peerId: string, downloadId: string): string;
  /** chunk availability of one file (ChunkAvailability, publish) */
  avail(fileId: string): string;
  /** "who has chunks of this file?" (AvailabilityQuery, publish) */
  availQuery(fileId: string): string;
  /** every file's availability queries (a peer answers for what it holds) */
  availQueries: string;
  /** the queue group trackers share so that exactly one answers each request */
  trackerQueue: string;
  /** wildcards an observer (the dashboard) listens on: every peer's progress, traces, and every file's availability */
  allProgress: string;
  allTraces: string;
  allAvail: string;
}


function token(kind: string, value: string): string {
  if (!TOKEN.test(value)) throw new TypeError(`invalid ${kind} for a subject: ${JSON.stringify(value)}`);
  return value;
}

function fileToken(fileId: string): string {
  if (!FILE_ID_PATTERN.test(fileId)) throw new TypeError(`invalid fileId for a subject: ${JSON.stringify(fileId)}`);
  return fileId;
}

/** Build the subject set for `prefix` (dot-separated tokens of [A-Za-z0-9_-]). */
export function subjects(prefix = 'p2p'): Subjects {
  if (!prefix.split('.').every((t) => TOKEN.test(t))) {
    throw new TypeError(`invalid subject prefix: ${JSON.stringify(prefix)}`);
  }
  const p = prefix;
  return {
    announce: `${p}.tracker.announce`,
    heartbeat: `${p}.tracker.heartbeat`,
    bye: `${p}.tracker.bye`,
    lookup: `${p}.tracker.lookup`,
    list: `${p}.tracker.list`,
    peers: `${p}.tracker.peers`,
    key: `${p}.tracker.key`,
    hello: `${p}.tracker.hello`,
    intent: (peer) => `${p}.peer.${token('peer id', peer)}.intent`,
    cancel: (peer) => `${p}.peer.${token('peer id', peer)}.cancel`,
    status: (peer) => `${p}.peer.${token('peer id', peer)}.status`,
    trace: (peer) => `${p}.peer.${token("peer id", peer)}.traces`,
    progressOf: (peer, dl) => `${p}.peer.${token('peer id', peer)}.progress.${token('download id', dl)}`,
    avail: (fileId) => `${p}.avail.${fileToken(fileId)}`,
    availQuery: (fileId) => `${p}.avail.${fileToken(fileId)}.query`,
    availQueries: `${p}.avail.*.query`,
    traceOf: (peer, dl) => `${p}.peer.${token('peer id', peer)}.trace.${token('download id', dl)}`,
    trackerQueue: `${p}.trackers`,
    allProgress: `${p}.peer.*.progress.*`,
    allTraces: `${p}.peer.*.trace.*`,
    allAvail: `${p}.avail.*`,
  };
}
