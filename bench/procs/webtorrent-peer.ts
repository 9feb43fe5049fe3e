// A webtorrent peer for the external-tool rows (a child process of the bench). webtorrent-cli has
// no switch for DHT, local discovery, PEX or UPnP/NAT-PMP, and each of those would send packets off
// this machine, so this drives the webtorrent library that webtorrent-cli installs, with all of
// them off: only the torrent's loopback tracker. --mode seed serves --dir's copy; --mode get
// downloads into --dir, writes --marker when every piece is verified, and keeps seeding.
import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    module: { type: 'string' },
    torrent: { type: 'string' },
    dir: { type: 'string' },
    mode: { type: 'string' },
    port: { type: 'string' },
    'upload-bps': { type: 'string' },
    marker: { type: 'string' },
  },
});

interface Torrent {
  done: boolean;
  on(event: string, fn: (arg?: unknown) => void): void;
}
interface Client {
  add(torrent: Buffer, opts: Record<string, unknown>, ready: (t: Torrent) => void): Torrent;
  on(event: string, fn: (err: Error) => void): void;
  destroy(cb?: () => void): void;
}

const { default: WebTorrent } = (await import(pathToFileURL(values.module!).href)) as { default: new (opts: Record<string, unknown>) => Client };
const uploadBps = Number(values['upload-bps'] ?? 0);
const client = new WebTorrent({
  dht: false,
  lsd: false,
  utPex: false,
  natUpnp: false,
  natPmp: false,
  webSeeds: false,
  utp: false,
  torrentPort: Number(values.port ?? 0),
  ...(uploadBps > 0 ? { uploadLimit: uploadBps } : {}),
});
client.on('error', (err) => {
  process.stderr.write(`webtorrent: ${err.message}\n`);
  process.exit(1);
});
const seeding = values.mode === 'seed';
client.add(readFileSync(values.torrent!), { path: values.dir, skipVerify: seeding }, (t) => {
  const finished = () => {
    if (values.marker) writeFileSync(values.marker, `${Date.now()}\n`);
    process.stdout.write(seeding ? 'seeding\n' : 'done\n');
  };
  if (t.done) finished();
  else t.on('done', finished);
  t.on('error', (err) => {
    process.stderr.write(`webtorrent: ${(err as Error).message}\n`);
    process.exit(1);
  });
});
const stop = () => client.destroy(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
