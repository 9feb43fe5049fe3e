// Micro-bench: how much of a loopback sender's kernel time is set by its receiver. One child runs
// the bench's plain file-to-socket sender (bench/lib/file-push.ts, verified-copy's sender) for
// every connection; this process reads each transfer one of four ways: 'data' events or `onread`
// into a reused 256 KiB buffer (as the downloading peer reads), each either doing nothing with the
// bytes or hashing them (SHA-256) on the main thread. Prints the sender's CPU per GiB, user and
// system, from /proc, and the reader's own; the ways interleaved, after one warm-up transfer.
// On loopback a segment's receive processing runs in a softirq in the sender's context unless the
// receiver holds its socket at that moment, so the same sender costs more when its reader waits.
// Run: node --import tsx bench/micro/receiver-pace.ts [file (default: 1 GiB of random bytes in $TMPDIR)] [rounds]
import { fork } from 'node:child_process';
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { pushFile } from '../lib/file-push.js';
import { ensureDataFile } from '../lib/files.js';
import { cpuTimes } from '../lib/procfs.js';

const GiB = 1024 ** 3;
const WAYS = ['data', 'onread-256k', 'data+sha256', 'onread-256k+sha256'] as const;

async function child(file: string): Promise<void> {
  const size = (await stat(file)).size;
  const server = createServer((s) => void pushFile(s, file, size).then(() => s.end(), () => s.destroy()));
  server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as { port: number }).port }));
}

function readAll(port: number, way: string, buffer: Buffer): Promise<void> {
  const hash = way.endsWith('sha256') ? createHash('sha256') : undefined;
  return new Promise((resolve, reject) => {
    const socket: Socket = way.startsWith('onread')
      ? connect({ host: '127.0.0.1', port, onread: { buffer, callback: (n: number, b: Uint8Array) => (hash?.update(b.subarray(0, n)), true) } })
      : connect({ host: '127.0.0.1', port }).on('data', (d: Buffer) => void hash?.update(d));
    socket.on('close', () => resolve());
    socket.on('error', reject);
  });
}

async function main(): Promise<void> {
  const file = process.argv[2] || (await ensureDataFile(tmpdir(), 'p2p-serve-cpu-1GiB.bin', GiB));
  const rounds = Number(process.argv[3] ?? 3);
  const gib = (await stat(file)).size / GiB;
  const c = fork(fileURLToPath(import.meta.url), ['--child', file], { execArgv: process.execArgv });
  const { port } = await new Promise<{ port: number }>((resolve) => c.once('message', (m) => resolve(m as { port: number })));
  const buffer = Buffer.allocUnsafe(256 * 1024);
  await readAll(port, 'data', buffer); // the sender's warm-up
  for (let r = 1; r <= rounds; r++) {
    for (const way of WAYS) {
      const before = cpuTimes(c.pid!)!;
      const mine = process.cpuUsage();
      await readAll(port, way, buffer);
      const after = cpuTimes(c.pid!)!;
      const used = process.cpuUsage(mine);
      const f = (s: number) => (s / gib).toFixed(2);
      console.log(`round ${r} ${way.padEnd(18)} sender user ${f(after.user - before.user)} sys ${f(after.sys - before.sys)} s/GiB; reader user ${f(used.user / 1e6)} sys ${f(used.system / 1e6)}`);
    }
  }
  c.kill();
}

if (process.argv[2] === '--child') await child(process.argv[3]!);
else await main();
