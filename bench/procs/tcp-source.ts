// Sending end of tcp-limit and verified-copy (a child process of the bench): connects to
// 127.0.0.1:--port and pushes --bytes, either one pooled buffer written again and again (raw TCP
// limit) or the contents of --file read into a small pool of buffers (a file server's work: the
// plain file-to-socket sender a seeder's CPU per GiB is compared with). Prints `done {json}` with
// the CPU seconds (user + system, every thread) from the connection to the last byte flushed.
import { open } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { port: { type: 'string' }, bytes: { type: 'string' }, file: { type: 'string' } } });
const total = Number(values.bytes);
const BLOCK = 1024 * 1024;

function drained(socket: Socket): Promise<void> {
  return new Promise((resolve) => socket.once('drain', resolve));
}

async function pushPooled(socket: Socket): Promise<void> {
  const block = Buffer.alloc(BLOCK, 0x5a);
  for (let sent = 0; sent < total; ) {
    const n = Math.min(BLOCK, total - sent);
    sent += n;
    if (!socket.write(n === BLOCK ? block : block.subarray(0, n))) await drained(socket);
  }
}

async function pushFile(socket: Socket, path: string): Promise<void> {
  const fh = await open(path, 'r');
  const pool: Buffer[] = Array.from({ length: 8 }, () => Buffer.allocUnsafe(BLOCK));
  let wake: (() => void) | undefined;
  const release = (buf: Buffer) => {
    pool.push(buf);
    wake?.();
  };
  try {
    for (let offset = 0; offset < total; ) {
      while (pool.length === 0) await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
      const buf = pool.pop()!;
      const { bytesRead } = await fh.read(buf, 0, Math.min(BLOCK, total - offset), offset);
      if (bytesRead === 0) throw new Error(`${path} is shorter than ${total} bytes`);
      offset += bytesRead;
      // the buffer goes back to the pool once the kernel has it
      const ok = socket.write(buf.subarray(0, bytesRead), () => release(buf));
      if (!ok) await drained(socket);
    }
  } finally {
    await fh.close();
  }
}

const socket = connect({ host: '127.0.0.1', port: Number(values.port), noDelay: true }, () => {
  const cpuAtStart = process.cpuUsage();
  (values.file ? pushFile(socket, values.file) : pushPooled(socket)).then(
    () =>
      socket.end(() => {
        const cpu = process.cpuUsage(cpuAtStart);
        process.stdout.write(`done ${JSON.stringify({ bytes: total, cpuSec: (cpu.user + cpu.system) / 1e6, sysSec: cpu.system / 1e6 })}\n`);
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
