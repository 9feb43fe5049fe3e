// A scriptable hostile peer: a TCP chunk server whose every answer a test scripts (honest, lie,
// stall, trickle, flood, error) and a NATS client that announces, heartbeats, requests and
// publishes as any peer id it likes (signed with its own key: "speaking in another's name").
// The TCP side is built on chunks.ts's scriptedSource (one fake source, not two).
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { connect, type NatsConnection } from 'nats';
import { PeerIdentity } from '../../src/identity.js';
import { decodeRaw, encode } from '../../src/protocol/codec.js';
import { encodeChunkHeader, encodeError, encodeManifestFrame, type FrameEvent } from '../../src/protocol/frames.js';
import type { FileMeta } from '../../src/protocol/messages.js';
import { subjects, type Subjects } from '../../src/protocol/subjects.js';
import { chooseChunkSize, chunkLength, encodeManifest, fileIdOf, hashFile, type Manifest } from '../../src/store/manifest.js';
import type { ErrorCode } from '../../src/errors.js';
import { scriptedSource } from './chunks.js';
import type { Teardown } from './scope.js';

/** What a hostile source holds: a manifest and (for honest or trickled chunks) the bytes. */
export interface HostileFile {
  fileId: string;
  manifest: Manifest;
  data?: Buffer;
}

/** How one request is answered: the frame bytes to send (honest or not), or a misbehaviour. */
export type Behaviour =
  | { kind: 'honest' }
  /** wrong bytes: a chunk of random bytes, or a manifest that does not hash to the fileId */
  | { kind: 'lie' }
  /** never answer */
  | { kind: 'stall' }
  /** the honest answer, `bytes` bytes every `everyMs` ms */
  | { kind: 'trickle'; everyMs: number; bytes?: number }
  /** garbage without end, as fast as the socket takes it */
  | { kind: 'flood' }
  /** an ERROR frame */
  | { kind: 'error'; code: ErrorCode; message: string };

export interface HostileScript {
  manifest?: Behaviour;
  chunk?: Behaviour;
}

export interface HostileSource {
  port: number;
  accepted: () => number;
  closed: () => number;
  /** requests seen so far, by kind */
  asked: { manifest: number; chunk: number };
}

/** The honest answer to `e`, as a Buffer of frames (undefined for frames that need none). */
function honestAnswer(file: HostileFile, e: FrameEvent): Buffer | undefined {
  if (e.type === 'get-manifest') return encodeManifestFrame(e.reqId, encodeManifest(file.manifest));
  if (e.type !== 'get-chunk') return undefined;
  if (!file.data) throw new Error('an honest chunk needs the file data');
  const { size, chunkSize } = file.manifest;
  const length = chunkLength(size, chunkSize, e.index);
  return Buffer.concat([encodeChunkHeader(e.reqId, e.index, length), file.data.subarray(e.index * chunkSize, e.index * chunkSize + length)]);
}

function lyingAnswer(file: HostileFile, e: FrameEvent): Buffer | undefined {
  if (e.type === 'get-manifest') {
    const wrong = { ...file.manifest, hashes: file.manifest.hashes.map(() => randomBytes(32)) };
    return encodeManifestFrame(e.reqId, encodeManifest(wrong));
  }
  if (e.type !== 'get-chunk') return undefined;
  const length = chunkLength(file.manifest.size, file.manifest.chunkSize, e.index);
  return Buffer.concat([encodeChunkHeader(e.reqId, e.index, length), randomBytes(length)]);
}

/** Answers still being trickled on a socket: the next one starts when the last one is out. */
const queues = new WeakMap<Socket, Promise<void>>();

/**
 * Write `bytes` to `socket`, `step` bytes every `everyMs` ms, after the answers already being
 * trickled on it (answers never interleave), until done or the socket closes.
 */
export function trickle(socket: Socket, bytes: Buffer, everyMs: number, step = 1): void {
  const previous = queues.get(socket) ?? Promise.resolve();
  const mine = previous.then(
    () =>
      new Promise<void>((resolve) => {
        let off = 0;
        const timer = setInterval(() => {
          if (socket.destroyed || off >= bytes.length) {
            clearInterval(timer);
            return resolve();
          }
          socket.write(bytes.subarray(off, off + step));
          off += step;
        }, everyMs);
        socket.once('close', () => (clearInterval(timer), resolve()));
      }),
  );
  queues.set(socket, mine);
}

/** Write garbage as fast as the socket drains until it closes. */
export function flood(socket: Socket): void {
  const junk = randomBytes(64 * 1024);
  const pump = () => {
    while (!socket.destroyed && socket.write(junk));
  };
  socket.on('drain', pump);
  pump();
}

/** A hostile TCP source for `file` answering manifest and chunk requests as `script` says. */
export async function hostileSource(t: Teardown, file: HostileFile, script: HostileScript): Promise<HostileSource> {
  const asked = { manifest: 0, chunk: 0 };
  const answer = (socket: Socket, e: FrameEvent) => {
    if (e.type !== 'get-manifest' && e.type !== 'get-chunk') return;
    if (e.type === 'get-manifest') asked.manifest++;
    else asked.chunk++;
    const b: Behaviour = (e.type === 'get-manifest' ? script.manifest : script.chunk) ?? { kind: 'honest' };
    switch (b.kind) {
      case 'honest':
        return void socket.write(honestAnswer(file, e)!);
      case 'lie':
        return void socket.write(lyingAnswer(file, e)!);
      case 'stall':
        return;
      case 'trickle':
        return trickle(socket, honestAnswer(file, e)!, b.everyMs, b.bytes ?? 1);
      case 'flood':
        return flood(socket);
      case 'error':
        return void socket.write(encodeError(e.reqId, b.code, b.message));
    }
  };
  const server = await scriptedSource(t, answer);
  return { port: server.port, accepted: server.accepted, closed: server.closed, asked };
}

/** The NATS side: a client that speaks for any peer id, signing with its own (stranger's) key. */
export class HostileBus {
  readonly s: Subjects;
  readonly identity = PeerIdentity.ephemeral();
  private readonly timers: NodeJS.Timeout[] = [];

  private constructor(
    readonly nc: NatsConnection,
    prefix: string,
  ) {
    this.s = subjects(prefix);
  }

  static async connect(t: Teardown, url: string, prefix: string): Promise<HostileBus> {
    const bus = new HostileBus(await connect({ servers: url }), prefix);
    t.teardown(() => bus.close());
    return bus;
  }

  /** A request with raw msgpack of `message` (any shape: invalid ones too); the decoded reply. */
  async request(subject: string, message: unknown, opts: { sign?: boolean; timeoutMs?: number } = {}): Promise<unknown> {
    const payload = encode(message);
    const headers = opts.sign ? this.identity.sign(subject, payload) : undefined;
    const reply = await this.nc.request(subject, payload, { headers, timeout: opts.timeoutMs ?? 3000 });
    return decodeRaw(reply.data);
  }

  publish(subject: string, message: unknown, opts: { sign?: boolean } = {}): void {
    const payload = encode(message);
    this.nc.publish(subject, payload, { headers: opts.sign ? this.identity.sign(subject, payload) : undefined });
  }

  /**
   * Announce `files` at `endpoint` as `peerId` (signed with this client's key), and keep the
   * entry alive with heartbeats every `heartbeatMs` until closed. Returns the tracker's reply.
   */
  async announce(peerId: string, endpoint: { host: string; port: number }, files: FileMeta[], heartbeatMs = 1000): Promise<{ ok: boolean; code?: string }> {
    const reply = (await this.request(this.s.announce, { v: 1, peerId, endpoint, replace: true, files, removed: [] }, { sign: true })) as { ok: boolean; code?: string };
    if (reply.ok) {
      const timer = setInterval(() => {
        void this.request(this.s.heartbeat, { v: 1, peerId, endpoint, fileCount: files.length }, { sign: true }).catch(() => undefined);
      }, heartbeatMs);
      this.timers.push(timer);
    }
    return reply;
  }

  async close(): Promise<void> {
    for (const t of this.timers.splice(0)) clearInterval(t);
    await this.nc.close().catch(() => undefined);
  }
}

/** Write `content` as `name` in `root/id/shared/` and return what the swarm knows it by. */
export async function shareFile(root: string, id: string, name: string, content: Buffer) {
  await mkdir(join(root, id, 'shared'), { recursive: true });
  const path = join(root, id, 'shared', name);
  await writeFile(path, content);
  const manifest = await hashFile(path, chooseChunkSize(content.length));
  const fileId = fileIdOf(manifest);
  const meta: FileMeta = { fileId, name, size: content.length, chunkSize: manifest.chunkSize, chunkCount: manifest.hashes.length };
  return { path, manifest, fileId, meta };
}
