// Receiving end of tcp-limit and verified-copy (a child process of the bench): accepts one
// connection on 127.0.0.1, then either discards the bytes or hashes them (SHA-256) and writes
// them to --out, fsynced. Prints `listening PORT`, then `done {json}` with the bytes, the time
// from the accepted connection to the last byte handled (and synced), and the CPU seconds (user +
// system, every thread: getrusage, the same counters as /proc/PID/stat) spent over that time, and
// of it the main thread's (the event loop: socket reads, hashing; the rest is libuv's pool writing
// and V8's helper threads).
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { ownMainThreadCpu } from '../lib/procfs.js';

const { values } = parseArgs({ options: { out: { type: 'string' }, hash: { type: 'boolean' } } });

const server = createServer({ noDelay: true }, (socket) => {
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
