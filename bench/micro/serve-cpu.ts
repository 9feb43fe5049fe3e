// Micro-bench of the seeder's serve path without the peer daemon around it: a ChunkServer in a
// child process serves a file to a PeerConnection here (8 MiB of chunk requests in flight, answers
// dropped), against the same child pushing the same file to a plain socket (the bench's
// file-to-socket sender, bench/lib/file-push.ts). Prints the child's CPU seconds per GiB,
// user and system, of its main thread and of its other threads (V8's compiler and GC, the libuv
// pool), from /proc, for each run: the first run of a fresh child includes its JIT warm-up.
// Run: node --import tsx bench/micro/serve-cpu.ts [file (default: 1 GiB of random bytes in $TMPDIR)] [runs]
// SERVE_CPU_CHUNK=524288 serves in chunks of that size (default 1 MiB), with the same 8 MiB in flight.
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { pushFile } from '../lib/file-push.js';
import { ensureDataFile } from '../lib/files.js';
import { cpuTimes, threadCpuTimes } from '../lib/procfs.js';
import { createLogger } from '../../src/logger.js';
import { chunkLength, fileIdOf, hashFile } from '../../src/store/manifest.js';
import { PeerConnection } from '../../src/transport/chunk-client.js';
import { ChunkServer } from '../../src/transport/chunk-server.js';

const GiB = 1024 ** 3;
const MiB = 1024 * 1024;
const CHUNK = Number(process.env.SERVE_CPU_CHUNK ?? MiB);
if (!Number.isInteger(CHUNK) || CHUNK < 1024 || CHUNK > 64 * MiB) throw new Error('SERVE_CPU_CHUNK must be a byte count from 1024 to 64 MiB');
const IN_FLIGHT = Math.max(1, Math.floor((8 * MiB) / CHUNK));
const silent = createLogger({ level: 'silent' });

/** utime and stime of the main thread and of all threads of `pid`, in seconds. */
function threadCpu(pid: number): { mainUser: number; mainSys: number; user: number; sys: number; minflt: number; ctxt: number } {
  const main = threadCpuTimes(pid, pid);
  const all = cpuTimes(pid);
  if (!main || !all) throw new Error(`process ${pid} is gone`);
  // minor page faults (field 10 of /proc/PID/stat: all threads) and context switches (/proc/PID/status: the main thread)
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const minflt = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[7]);
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const ctxt = [...status.matchAll(/ctxt_switches:\s+(\d+)/g)].reduce((a, m) => a + Number(m[1]), 0);
  return { mainUser: main.user, mainSys: main.sys, user: all.user, sys: all.sys, minflt, ctxt };
}

/** The child: serves `file` both ways and says where. */
async function child(file: string): Promise<void> {
  const manifest = await hashFile(file, CHUNK);
  const fileId = fileIdOf(manifest);
  const served = { fileId, path: file, manifest };
  const server = new ChunkServer({ logger: silent, resolve: (id) => (id === fileId ? served : undefined) }, { host: '127.0.0.1', port: 0, maxConnections: 4, idleTimeoutMs: 600_000 });
  const { port } = await server.start();
  // the plain sender (bench/lib/file-push.ts, as verified-copy's sender)
  const plain = createServer((socket) => {
    pushFile(socket, file, manifest.size).then(
      () => socket.end(),
      () => socket.destroy(),
    );
  });
  await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
  const plainPort = (plain.address() as { port: number }).port;
  process.send!({ port, plainPort, fileId });
  // where the chunk server's reads went (on the event loop, or the pool after slow ones)
  process.on('message', () => process.send!(server.stats.reads));
}

async function viaChunkServer(port: number, fileId: string): Promise<void> {
  const conn = await PeerConnection.connect({ host: '127.0.0.1', port }, { timeoutMs: 10_000, logger: silent, maxChunkBytes: CHUNK });
  const m = await conn.getManifest(fileId);
  let next = 0;
  let done = 0;
  await new Promise<void>((resolve, reject) => {
    const more = () => {
      while (next < m.hashes.length && next - done < IN_FLIGHT) {
        const i = next++;
        conn.getChunk(fileId, i, chunkLength(m.size, m.chunkSize, i), m.hashes[i]!).then((slices) => {
          conn.release(slices);
          if (++done === m.hashes.length) resolve();
          else more();
        }, reject);
      }
    };
    more();
  });
  conn.close();
}

function viaPlainSocket(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.on('data', () => undefined);
    socket.on('end', () => resolve());
    socket.on('error', reject);
  });
}

async function main(): Promise<void> {
  const file = process.argv[2] || (await ensureDataFile(tmpdir(), 'p2p-serve-cpu-1GiB.bin', GiB));
  const runs = Number(process.argv[3] ?? 3);
  const size = (await stat(file)).size;
  for (const way of ['chunk-server', 'plain-sender'] as const) {
    // a fresh child per way: each first run pays its own warm-up
    const c = fork(fileURLToPath(import.meta.url), ['--child', file], { execArgv: process.execArgv });
    const where = await new Promise<{ port: number; plainPort: number; fileId: string }>((resolve) => c.once('message', (m) => resolve(m as never)));
    for (let r = 1; r <= runs; r++) {
      const before = threadCpu(c.pid!);
      if (way === 'chunk-server') await viaChunkServer(where.port, where.fileId);
      else await viaPlainSocket(where.plainPort);
      const after = threadCpu(c.pid!);
      const per = (k: keyof typeof before) => ((after[k] - before[k]) / (size / GiB)).toFixed(2);
      const total = ((after.user + after.sys - before.user - before.sys) / (size / GiB)).toFixed(2);
      console.log(`${way.padEnd(12)} run ${r}: ${total} s/GiB (user ${per('user')}, sys ${per('sys')}); main thread user ${per('mainUser')}, sys ${per('mainSys')}; minor faults ${after.minflt - before.minflt}, main thread context switches ${after.ctxt - before.ctxt}`);
    }
    if (way === 'chunk-server') {
      c.send('reads');
      const reads = await new Promise((resolve) => c.once('message', resolve));
      console.log(`chunk-server reads: ${JSON.stringify(reads)} (on the event loop, through the pool, times slow reads sent them there)`);
    }
    c.kill();
  }
}

if (process.argv[2] === '--child') await child(process.argv[3]!);
else await main();
