// Micro-bench of availability in a big swarm: N downloaders of one file (SwarmAvailability, each
// with its own Ed25519 identity, all in this process on one connection to a nats-server child),
// each gaining a chunk every 25 ms for a few seconds, so each is always ready to announce. Per
// swarm size, with the fixed 50 ms window used before and with the windows paced to the swarm
// (src/download/announce-pace.ts): the messages each downloader receives a second (measured, and
// what its window implies), this process's CPU (user + sys) per message received (the sender's
// signing, the check, decoding, the bus), and their product at the implied rate: the CPU a second
// that availability costs a downloader on a machine of its own. All N run on this machine's cores
// here, so past a point the process saturates and receives far less than the windows imply (under 0.7 ×:
// marked *; a timer armed at the first gain after a message makes each window up to 25 ms longer,
// so about 0.75 × is normal).
// Run: node --import tsx bench/micro/availability-cpu.ts [sizes, default 8,16,32] [seconds, default 3]
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { SwarmAvailability, type SharedDownload } from '../../actors/availability.js';
import { PeerKeys } from '../../actors/peer-keys.js';
import { announceWindowMs } from '../../src/download/announce-pace.js';
import { PeerIdentity } from '../../src/identity.js';
import { createLogger } from '../../src/logger.js';
import { subjects } from '../../src/protocol/subjects.js';
import { fileIdOf, hashFile } from '../../src/store/manifest.js';
import { PartialDownload } from '../../src/store/partial.js';
import { connectBus } from '../../src/transport/bus.js';
import { startNatsServer } from '../lib/nats.js';
import { Scope } from '../lib/scope.js';

const CHUNK = 16 * 1024;
const GAIN_EVERY_MS = 25;
const sizes = (process.argv[2] ?? '8,16,32').split(',').map(Number);
const seconds = Number(process.argv[3] ?? 3);
if (sizes.some((n) => !Number.isInteger(n) || n < 2 || n > 200) || !(seconds > 0 && seconds <= 60)) {
  console.error('usage: availability-cpu.ts [sizes, e.g. 8,16,32 (2-200)] [seconds (0-60)]');
  process.exit(2);
}
const silent = createLogger({ level: 'silent' });

interface Result {
  /** messages each downloader received a second (measured) */
  received: number;
  /** what the window implies: (N − 1) × 1000 / window */
  implied: number;
  /** CPU µs of this process per message received */
  usPerMessage: number;
  windowMs: number;
}

async function run(url: string, dir: string, n: number, paced: boolean): Promise<Result> {
  const scope = new Scope();
  try {
    const chunks = Math.ceil((seconds * 1000) / GAIN_EVERY_MS) + 2;
    const path = join(dir, `f-${n}-${paced}.bin`);
    const data = randomBytes(chunks * CHUNK);
    await writeFile(path, data);
    const manifest = await hashFile(path, CHUNK);
    const fileId = fileIdOf(manifest);
    const s = subjects(`ac-${randomBytes(3).toString('hex')}`);
    const nc = await connectBus({ url, name: 'availability-cpu', reconnect: false });
    scope.defer(() => nc.close());
    const ids = Array.from({ length: n }, () => PeerIdentity.ephemeral());
    const keyById = new Map(ids.map((id, k) => [`p${k}`, id.publicKey]));
    let received = 0;
    const peers: Array<{ shared: SharedDownload; partial: PartialDownload }> = [];
    for (let k = 0; k < n; k++) {
      const keys = new PeerKeys(async (peerId) => keyById.get(peerId), { now: () => Date.now() });
      const side = new SwarmAvailability(
        { nc, logger: silent, subjects: s, identity: ids[k]!, keys },
        { peerId: `p${k}`, endpoint: () => ({ host: '127.0.0.1', port: 7000 + k }), holds: () => undefined, pace: paced ? announceWindowMs : (_o, base) => base },
      );
      scope.defer(side.watch(fileId, manifest.hashes.length, () => received++));
      const partial = await PartialDownload.open({ chunksDir: join(dir, `c-${n}-${paced}-${k}`), fileId, manifest, name: 'out.bin' });
      scope.defer(() => partial.close());
      await partial.writeChunk(0, [data.subarray(0, CHUNK)]);
      const shared = side.share(partial);
      scope.defer(() => shared.close());
      peers.push({ shared, partial });
    }
    await nc.flush();
    await new Promise((r) => setTimeout(r, 500)); // the first bitfields heard: every window is set by the swarm's size
    received = 0;
    const cpu0 = process.cpuUsage();
    const t0 = Date.now();
    for (let index = 1; Date.now() - t0 < seconds * 1000 && index < chunks; index++) {
      for (const p of peers) {
        await p.partial.writeChunk(index, [data.subarray(index * CHUNK, (index + 1) * CHUNK)]);
        p.shared.gained(index);
      }
      await new Promise((r) => setTimeout(r, Math.max(0, t0 + index * GAIN_EVERY_MS - Date.now())));
    }
    const elapsed = (Date.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const windowMs = paced ? announceWindowMs(n - 1, 50) : 50;
    return { received: received / n / elapsed, implied: ((n - 1) * 1000) / windowMs, usPerMessage: (cpu.user + cpu.system) / Math.max(1, received), windowMs };
  } finally {
    await scope.close();
  }
}

const root = new Scope();
const dir = await mkdtemp(join(tmpdir(), 'p2p-availability-cpu-'));
root.defer(() => rm(dir, { recursive: true, force: true }));
try {
  const nats = await startNatsServer(root);
  console.log(`${seconds} s per run, a gain every ${GAIN_EVERY_MS} ms per downloader. Per downloader: messages received a second (measured / implied by the window), CPU µs per message, CPU ms a second at the implied rate`);
  console.log('downloaders | window | received/s | µs/message | CPU ms/s');
  const line = (n: number, r: Result) =>
    `${String(n).padStart(11)} | ${`${r.windowMs} ms`.padStart(6)} | ${r.received.toFixed(0).padStart(4)} / ${r.implied.toFixed(0).padEnd(4)}${r.received < 0.7 * r.implied ? '*' : ' '} | ${r.usPerMessage.toFixed(0).padStart(10)} | ${((r.implied * r.usPerMessage) / 1000).toFixed(0).padStart(8)}`;
  for (const n of sizes) {
    console.log(line(n, await run(nats.url, dir, n, false)));
    console.log(line(n, await run(nats.url, dir, n, true)));
  }
  console.log('* this process saturated: it received less than the windows imply');
} finally {
  await root.close();
}
