// Receiving end of tcp-limit and verified-copy (a child process of the bench): accepts one
// connection on 127.0.0.1, then either discards the bytes or hashes them (SHA-256) and writes
// them to --out, fsynced. Prints `listening PORT`, then `done {json}` with the bytes, the time
// from the accepted connection to the last byte handled (and synced), and the CPU seconds (user +
// system, every thread: getrusage, the same counters as /proc/PID/stat) spent over that time, and
// of it the main thread's (the event loop: socket reads, hashing; the rest is libuv's pool writing
// and V8's helper threads).
//
// With --conns N (N > 1) it accepts N connections instead, each opening with its 8-byte offset
// into the file (tcp-source --offset): each stream is hashed on its own and written at its
// offset, the file fsynced once all have ended. The CPU baseline for several seeders, each
// serving its part of one file (bench/README.md, "Three seeders, fresh in every run; three plain
// senders").
import { createHash } from 'node:crypto';
import { closeSync, createWriteStream, fsyncSync, openSync, write } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { ownMainThreadCpu } from '../lib/procfs.js';

const { values } = parseArgs({ options: { out: { type: 'string' }, hash: { type: 'boolean' }, conns: { type: 'string' } } });
const conns = Number(values.conns ?? 1);

const server: Server = conns > 1 ? multiSink(conns) : createServer({ noDelay: true }, (socket) => {
  server.close();
  const started = performance.now();
  const cpuAtStart = process.cpuUsage();
  const mainCpu = ownMainThreadCpu();
  let bytes = 0;
  const hash = values.hash ? createHash('sha256') : undefined;
  const out = values.out ? createWriteStream(values.out, { highWaterMark: 4 * 1024 * 1024 }) : undefined;
  socket.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    hash?.update(chunk);
    if (out && !out.write(chunk)) {
      socket.pause();
      out.once('drain', () => socket.resume());
    }
  });
  socket.on('end', () => {
    let writtenMs: number | undefined;
    const report = (synced: boolean) => {
      const ms = performance.now() - started;
      const cpu = process.cpuUsage(cpuAtStart);
      const cpuSec = (cpu.user + cpu.system) / 1e6;
      const mainCpuSec = mainCpu();
      process.stdout.write(`done ${JSON.stringify({ bytes, ms, writtenMs, sha256: hash?.digest('hex'), synced, cpuSec, sysSec: cpu.system / 1e6, mainCpuSec })}\n`);
      process.exit(0);
    };
    if (!out) return report(false);
    out.end(() => {
      writtenMs = performance.now() - started;
      // the write stream's fd is closed by now: fsync through a fresh descriptor
      import('node:fs').then(({ openSync, fsyncSync, closeSync }) => {
        const fd = openSync(values.out!, 'r+');
        fsyncSync(fd);
        closeSync(fd);
        report(true);
      }, () => report(false));
    });
  });
  socket.on('error', (err) => {
    process.stderr.write(`sink: ${err.message}\n`);
    process.exit(1);
  });
});
server.listen(0, '127.0.0.1', () => {
  const addr = server.address();
  process.stdout.write(`listening ${typeof addr === 'object' && addr ? addr.port : 0}\n`);
});

/** N streams, each from its offset into one file: hashed apart, written in place, fsynced at the end. */
function multiSink(n: number): Server {
  let started = 0;
  let cpuAtStart: NodeJS.CpuUsage | undefined;
  let mainCpu: (() => number | undefined) | undefined;
  let bytes = 0;
  let ended = 0;
  let accepted = 0;
  const fd = values.out ? openSync(values.out, 'w') : undefined;
  const srv = createServer({ noDelay: true }, (socket) => {
    if (++accepted === n) srv.close();
    if (accepted === 1) {
      started = performance.now();
      cpuAtStart = process.cpuUsage();
      mainCpu = ownMainThreadCpu();
    }
    const hash = values.hash ? createHash('sha256') : undefined;
    let head: Buffer | undefined = Buffer.alloc(0);
    let at = 0;
    let pending = 0;
    let finished = false;
    const maybeEnd = () => {
      if (!finished || pending > 0) return;
      if (++ended === n) report();
    };
    const put = (chunk: Buffer) => {
      bytes += chunk.length;
      hash?.update(chunk);
      if (fd === undefined) return;
      pending++;
      if (pending >= 4) socket.pause();
      write(fd, chunk, 0, chunk.length, at, (err) => {
        if (err) fail(err);
        pending--;
        if (pending < 4) socket.resume();
        maybeEnd();
      });
      at += chunk.length;
    };
    socket.on('data', (chunk: Buffer) => {
      if (head) {
        head = Buffer.concat([head, chunk]);
        if (head.length < 8) return;
        at = Number(head.readBigUInt64BE(0));
        chunk = head.subarray(8);
        head = undefined;
        if (chunk.length === 0) return;
      }
      put(chunk);
    });
    socket.on('end', () => {
      finished = true;
      maybeEnd();
    });
    socket.on('error', fail);
  });
  const report = () => {
    let writtenMs: number | undefined;
    if (fd !== undefined) {
      writtenMs = performance.now() - started;
      fsyncSync(fd);
      closeSync(fd);
    }
    const ms = performance.now() - started;
    const cpu = process.cpuUsage(cpuAtStart);
    process.stdout.write(`done ${JSON.stringify({ bytes, ms, writtenMs, synced: fd !== undefined, cpuSec: (cpu.user + cpu.system) / 1e6, sysSec: cpu.system / 1e6, mainCpuSec: mainCpu?.() })}\n`);
    process.exit(0);
  };
  return srv;
}

function fail(err: Error): never {
  process.stderr.write(`sink: ${err.message}\n`);
  process.exit(1);
}
