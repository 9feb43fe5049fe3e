// Sending end of tcp-limit and verified-copy (a child process of the bench): connects to
// 127.0.0.1:--port and pushes --bytes, either one pooled buffer written again and again (raw TCP
// limit) or the contents of --file read into a small pool of buffers (a file server's work: the
// plain file-to-socket sender a seeder's CPU per GiB is compared with). Prints `done {json}` with
// the CPU seconds (user + system, every thread; and the main thread's) from the connection to the
// last byte flushed. With --offset it sends that part of --file (--bytes from --offset on), after
// an 8-byte header giving the offset, to a sink taking several streams (tcp-sink --conns).
import { connect, type Socket } from 'node:net';
import { parseArgs } from 'node:util';
import { drained, pushFile } from '../lib/file-push.js';
import { ownMainThreadCpu } from '../lib/procfs.js';

const { values } = parseArgs({ options: { port: { type: 'string' }, bytes: { type: 'string' }, file: { type: 'string' }, offset: { type: 'string' } } });
const total = Number(values.bytes);
const BLOCK = 1024 * 1024;

async function pushPooled(socket: Socket): Promise<void> {
  const block = Buffer.alloc(BLOCK, 0x5a);
  for (let sent = 0; sent < total; ) {
    const n = Math.min(BLOCK, total - sent);
    sent += n;
    if (!socket.write(n === BLOCK ? block : block.subarray(0, n))) await drained(socket);
  }
}

const socket = connect({ host: '127.0.0.1', port: Number(values.port), noDelay: true }, () => {
  const cpuAtStart = process.cpuUsage();
  const mainCpu = ownMainThreadCpu();
  const offset = values.offset === undefined ? undefined : Number(values.offset);
  if (offset !== undefined) {
    const head = Buffer.alloc(8);
    head.writeBigUInt64BE(BigInt(offset));
    socket.write(head);
  }
  (values.file ? pushFile(socket, values.file, total, offset ?? 0) : pushPooled(socket)).then(
    () =>
      socket.end(() => {
        const cpu = process.cpuUsage(cpuAtStart);
        const mainCpuSec = mainCpu();
        process.stdout.write(`done ${JSON.stringify({ bytes: total, cpuSec: (cpu.user + cpu.system) / 1e6, sysSec: cpu.system / 1e6, mainCpuSec })}\n`);
      }),
    (err: Error) => {
      process.stderr.write(`source: ${err.message}\n`);
      process.exit(1);
    },
  );
});
socket.on('error', (err) => {
  process.stderr.write(`source: ${err.message}\n`);
  process.exit(1);
});
