// Micro-bench of the seeder's serve path without the peer daemon around it: a ChunkServer in a
// child process serves a file to a PeerConnection here (8 MiB of chunk requests in flight, answers
// dropped), against the same child pushing the same file to a plain socket (the bench's
// file-to-socket sender, bench/lib/file-push.ts). Prints the child's CPU seconds per GiB,
// user and system, of its main thread and of its other threads (V8's compiler and GC, the libuv
// pool), from /proc, for each run: the first run of a fresh child includes its JIT warm-up.
// Run: node --import tsx bench/micro/serve-cpu.ts [file (default: 1 GiB of random bytes in $TMPDIR)] [runs]
// SERVE_CPU_CHUNK=524288 serves in chunks of that size (default 1 MiB), with the same 8 MiB in flight.
// SERVE_CPU_SERVERS=3: three children (the CPU summed), chunk i asked of child i mod 3 (8 MiB in
// flight to each), against three plain senders each pushing its contiguous third.
// SERVE_CPU_WRITE=1: the reader writes what it gets into a scratch file at its offset, as a
// downloader does (and the plain way's reader hashes it too, as the chunk way's does): the serve
// path beside a busy reader, which is what a seeder has in the bench.
import { fork } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, open, rm, stat, type FileHandle } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
const SERVERS = Number(process.env.SERVE_CPU_SERVERS ?? 1);
if (!Number.isInteger(SERVERS) || SERVERS < 1 || SERVERS > 8) throw new Error('SERVE_CPU_SERVERS must be 1 to 8');
const WRITE = process.env.SERVE_CPU_WRITE === '1';
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

/** Child `part` of `parts`'s contiguous share of a file of `size` bytes, whole chunks: [start, start + bytes). */
function share(size: number, part: number, parts: number): { start: number; bytes: number } {
  const per = Math.ceil(size / parts / CHUNK) * CHUNK;
  const start = Math.min(size, part * per);
  return { start, bytes: Math.min(per, size - start) };
}

/** The child: serves `file` both ways (its plain sender, share `part` of `parts`) and says where. */
async function child(file: string, part: number, parts: number): Promise<void> {
  const manifest = await hashFile(file, CHUNK);
  const fileId = fileIdOf(manifest);
  const served = { fileId, path: file, manifest };
  const server = new ChunkServer({ logger: silent, resolve: (id) => (id === fileId ? served : undefined) }, { host: '127.0.0.1', port: 0, maxConnections: 4, idleTimeoutMs: 600_000 });
  const { port } = await server.start();
  // the plain sender (bench/lib/file-push.ts, as verified-copy's sender)
  const { start, bytes } = share(manifest.size, part, parts);
  const plain = createServer((socket) => {
    pushFile(socket, file, bytes, start).then(
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

/** Where the reader puts what it gets with SERVE_CPU_WRITE (positional writes, as a downloader's). */
type Out = FileHandle | undefined;

/** Chunk i from server i mod N, IN_FLIGHT chunks asked of each at a time; each verified chunk written with SERVE_CPU_WRITE. */
async function viaChunkServers(ports: number[], fileId: string, out: Out): Promise<void> {
  const conns = await Promise.all(ports.map((port) => PeerConnection.connect({ host: '127.0.0.1', port }, { timeoutMs: 10_000, logger: silent, maxChunkBytes: CHUNK })));
  const m = await conns[0]!.getManifest(fileId);
  let done = 0;
  await new Promise<void>((resolve, reject) => {
    conns.forEach((conn, k) => {
      let next = k;
      let asked = 0;
      const more = () => {
        while (next < m.hashes.length && asked < IN_FLIGHT) {
          const i = next;
          next += conns.length;
          asked++;
          conn.getChunk(fileId, i, chunkLength(m.size, m.chunkSize, i), m.hashes[i]!).then(async (slices) => {
            if (out) await out.writev(slices, i * m.chunkSize);
            conn.release(slices);
            asked--;
            if (++done === m.hashes.length) resolve();
            else more();
          }, reject);
        }
      };
      more();
    });
  });
  for (const conn of conns) conn.close();
}

/** Each plain sender's share read to its end; with SERVE_CPU_WRITE hashed and written at its offset, as a verified copy's sink does. */
function viaPlainSockets(ports: number[], size: number, out: Out): Promise<unknown> {
  return Promise.all(
    ports.map(
      (port, part) =>
        new Promise<void>((resolve, reject) => {
          const hash = out ? createHash('sha256') : undefined;
          let at = share(size, part, ports.length).start;
          // the reader waits for no write: it reads on, as the sink does (the writes land at their own
          // offsets); the stream is done when its last write is, and fails with its first failed one
          let pending = 0;
          let ended = false;
          const settle = () => ended && pending === 0 && resolve();
          const socket = connect({ host: '127.0.0.1', port });
          socket.on('data', (data: Buffer) => {
            if (!out) return;
            hash!.update(data);
            pending++;
            out.write(data, 0, data.length, at).then(() => {
              pending--;
              settle();
            }, reject);
            at += data.length;
          });
          socket.on('end', () => {
            hash?.digest();
            ended = true;
            settle();
          });
          socket.on('error', reject);
        }),
    ),
  );
}

/** The children's CPU, summed, as threadCpu gives it for one. */
function sumCpu(pids: number[]): ReturnType<typeof threadCpu> {
  const sum = { mainUser: 0, mainSys: 0, user: 0, sys: 0, minflt: 0, ctxt: 0 };
  for (const pid of pids) {
    const one = threadCpu(pid);
    for (const k of Object.keys(sum) as Array<keyof typeof sum>) sum[k] += one[k];
  }
  return sum;
}

async function main(): Promise<void> {
  const file = process.argv[2] || (await ensureDataFile(tmpdir(), 'p2p-serve-cpu-1GiB.bin', GiB));
  const runs = Number(process.argv[3] ?? 3);
  const size = (await stat(file)).size;
  const scratch = WRITE ? await mkdtemp(join(tmpdir(), 'p2p-serve-cpu-')) : undefined;
  try {
    for (const way of ['chunk-server', 'plain-sender'] as const) {
      // fresh children per way: each first run pays its own warm-up
      const kids = Array.from({ length: SERVERS }, (_, part) => fork(fileURLToPath(import.meta.url), ['--child', file, String(part), String(SERVERS)], { execArgv: process.execArgv }));
      const where = await Promise.all(kids.map((c) => new Promise<{ port: number; plainPort: number; fileId: string }>((resolve) => c.once('message', (m) => resolve(m as never)))));
      const pids = kids.map((c) => c.pid!);
      for (let r = 1; r <= runs; r++) {
        // a new file each run, as each download makes one
        const out = scratch ? await open(join(scratch, 'out.bin'), 'w') : undefined;
        const before = sumCpu(pids);
        if (way === 'chunk-server') await viaChunkServers(where.map((w) => w.port), where[0]!.fileId, out);
        else await viaPlainSockets(where.map((w) => w.plainPort), size, out);
        const after = sumCpu(pids);
        await out?.close();
        if (scratch) await rm(join(scratch, 'out.bin'), { force: true });
        const per = (k: keyof typeof before) => ((after[k] - before[k]) / (size / GiB)).toFixed(2);
        const total = ((after.user + after.sys - before.user - before.sys) / (size / GiB)).toFixed(2);
        const who = SERVERS > 1 ? ` ×${SERVERS}` : '';
        console.log(`${way}${who}${WRITE ? ', reader writing' : ''} run ${r}: ${total} s/GiB (user ${per('user')}, sys ${per('sys')}); main thread${who ? 's' : ''} user ${per('mainUser')}, sys ${per('mainSys')}; minor faults ${after.minflt - before.minflt}, main thread context switches ${after.ctxt - before.ctxt}`);
      }
      if (way === 'chunk-server') {
        for (const c of kids) {
          c.send('reads');
          const reads = await new Promise((resolve) => c.once('message', resolve));
          console.log(`chunk-server reads: ${JSON.stringify(reads)} (on the event loop, through the pool, times slow reads sent them there)`);
        }
      }
      for (const c of kids) c.kill();
    }
  } finally {
    if (scratch) await rm(scratch, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--child') await child(process.argv[3]!, Number(process.argv[4] ?? 0), Number(process.argv[5] ?? 1));
else await main();
