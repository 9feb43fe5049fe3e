// The BitTorrent clients people would otherwise use, each started the same way: a seeder on a
// complete copy, or a downloader that writes a marker file once every piece is verified and then
// keeps seeding (as a p2p peer serves what it has). DHT, local peer discovery, PEX and port
// mapping are off everywhere: the only peers are the ones the loopback tracker hands out.
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { procScript } from './context.js';
import { freePort } from './bt-tracker.js';
import { spawnProc, type Proc } from './procs.js';
import type { Scope } from './scope.js';

export interface PeerOptions {
  torrent: string;
  /** seed: folder holding the complete file; get: empty folder to download into */
  dir: string;
  /** folder for the client's own state */
  state: string;
  /** per-peer upload cap, bytes/s (0 or absent: none) */
  uploadBps?: number;
  /** get only: written when the download is complete and verified */
  marker?: string;
  /** run in this LAN-lab host (network namespace) and bind its address instead of loopback */
  host?: { ns: string; addr: string };
}

/** Spawn `cmd` on loopback, or inside the lab host `o.host` (ip netns exec keeps the pid). */
function spawnFor(scope: Scope, o: PeerOptions, cmd: string, args: string[], opts: { cwd: string; label: string }): Proc {
  return o.host ? spawnProc(scope, 'ip', ['netns', 'exec', o.host.ns, cmd, ...args], opts) : spawnProc(scope, cmd, args, opts);
}

export interface BtClient {
  name: string;
  /** why this client cannot run here at all (its row is skipped with this reason) */
  unsupported?: string;
  /** tools it needs (names in Toolbox.found) */
  needs: string[];
  start(scope: Scope, mode: 'seed' | 'get', o: PeerOptions, tools: Map<string, string>): Promise<Proc>;
}

/** A shell script that creates `marker` (what aria2 and transmission run on completion). */
async function markerHook(state: string, marker: string): Promise<string> {
  const hook = join(state, 'on-complete.sh');
  await writeFile(hook, `#!/bin/sh\n: > '${marker.replace(/'/g, `'\\''`)}'\n`);
  await chmod(hook, 0o755);
  return hook;
}

export const aria2: BtClient = {
  name: 'aria2',
  needs: ['aria2'],
  async start(scope, mode, o, tools) {
    await mkdir(o.state, { recursive: true });
    const port = await freePort();
    const args = [
      `--dir=${o.dir}`,
      '--enable-dht=false',
      '--enable-dht6=false',
      '--bt-enable-lpd=false',
      '--enable-peer-exchange=false',
      '--disable-ipv6=true',
      `--listen-port=${port}`,
      `--interface=${o.host?.addr ?? '127.0.0.1'}`,
      '--seed-ratio=0.0', // seed until stopped
      '--summary-interval=0',
      '--show-console-readout=false',
      '--console-log-level=warn',
      '--file-allocation=falloc',
      `--max-overall-upload-limit=${o.uploadBps ?? 0}`,
      `--save-session=${join(o.state, 'session')}`,
    ];
    if (mode === 'seed') args.push('--bt-seed-unverified=true', '--check-integrity=false');
    else args.push(`--on-bt-download-complete=${await markerHook(o.state, o.marker!)}`);
    return spawnFor(scope, o, tools.get('aria2')!, [...args, o.torrent], { cwd: o.state, label: `aria2-${mode}` });
  },
};

export const transmission: BtClient = {
  name: 'transmission',
  // libtransmission drops tracker-given peers on 127.0.0.0/8 and ::1 as "martian" (isMartianAddr),
  // and this machine may only send to loopback: the seeder and the downloader never connect.
  unsupported: 'libtransmission refuses tracker peers on 127.0.0.0/8 and ::1 ("martian" addresses), and only loopback may be used here',
  needs: ['transmission'],
  async start(scope, mode, o, tools) {
    const config = join(o.state, 'config');
    await mkdir(config, { recursive: true });
    const port = await freePort();
    const kBps = Math.round((o.uploadBps ?? 0) / 1000); // transmission's kB are 1000 bytes
    const settings = {
      'dht-enabled': false,
      'lpd-enabled': false,
      'pex-enabled': false,
      'utp-enabled': false,
      'port-forwarding-enabled': false,
      'blocklist-enabled': false,
      'bind-address-ipv4': o.host?.addr ?? '127.0.0.1',
      'bind-address-ipv6': '::1',
      'peer-port': port,
      'peer-port-random-on-start': false,
      encryption: 0,
      'ratio-limit-enabled': false,
      'idle-seeding-limit-enabled': false,
      'speed-limit-up-enabled': kBps > 0,
      'speed-limit-up': kBps,
      'rename-partial-files': false,
      'incomplete-dir-enabled': false,
      'message-level': 1,
    };
    await writeFile(join(config, 'settings.json'), JSON.stringify(settings, null, 2));
    const args = ['-g', config, '-w', o.dir, '-p', String(port), '-M', '-et', '-D', ...(kBps > 0 ? ['-u', String(kBps)] : ['-U'])];
    if (mode === 'get') args.push('-f', await markerHook(o.state, o.marker!));
    return spawnFor(scope, o, tools.get('transmission')!, [...args, o.torrent], { cwd: o.state, label: `transmission-${mode}` });
  },
};

export const webtorrent: BtClient = {
  name: 'webtorrent',
  needs: ['webtorrent'],
  async start(scope, mode, o, tools) {
    await mkdir(o.state, { recursive: true });
    const port = await freePort();
    const args = [procScript('webtorrent-peer'), '--module', tools.get('webtorrent')!, '--torrent', o.torrent, '--dir', o.dir, '--mode', mode, '--port', String(port)];
    if (o.uploadBps) args.push('--upload-bps', String(o.uploadBps));
    if (o.marker) args.push('--marker', o.marker);
    return spawnFor(scope, o, process.execPath, args, { cwd: o.state, label: `webtorrent-${mode}` });
  },
};

export const BT_CLIENTS: BtClient[] = [aria2, transmission, webtorrent];
