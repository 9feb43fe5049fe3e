// External tools for the comparison rows, installed by the bench when missing and never into the
// project: Debian's aria2, transmission-cli, mktorrent and opentracker (apt-get, as root), and
// webtorrent from npm into a scratch folder (--ignore-scripts, its WebRTC dependency stubbed).
// Every step is time-boxed; a tool that cannot be had is reported, never fatal.
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runProc } from './procs.js';
import type { Scope } from './scope.js';

const APT_TOOLS: Record<string, { bin: string; pkg: string }> = {
  aria2: { bin: '/usr/bin/aria2c', pkg: 'aria2' },
  transmission: { bin: '/usr/bin/transmission-cli', pkg: 'transmission-cli' },
  mktorrent: { bin: '/usr/bin/mktorrent', pkg: 'mktorrent' },
  opentracker: { bin: '/usr/bin/opentracker', pkg: 'opentracker' },
};

export interface Toolbox {
  /** tool → path (aria2c, transmission-cli, mktorrent, opentracker, webtorrent module) */
  found: Map<string, string>;
  /** tool → why it is missing */
  missing: Map<string, string>;
  versions: Record<string, string>;
}

async function dpkgVersion(scope: Scope, pkg: string): Promise<string> {
  const r = await runProc(scope, 'dpkg-query', ['-W', '-f', '${Version}', pkg], { timeoutMs: 10_000 });
  return r.code === 0 ? r.stdout.trim() : 'unknown';
}

/** Install the Debian tools that are missing (apt-get update once, then install), within `timeoutMs`. */
async function ensureApt(scope: Scope, box: Toolbox, timeoutMs: number, log: (m: string) => void): Promise<void> {
  const missing = Object.entries(APT_TOOLS).filter(([, t]) => !existsSync(t.bin));
  if (missing.length > 0) {
    const pkgs = missing.map(([, t]) => t.pkg);
    if (process.getuid?.() !== 0) {
      for (const [name] of missing) box.missing.set(name, `not installed and not root (apt-get install ${pkgs.join(' ')})`);
    } else {
      log(`installing ${pkgs.join(' ')} with apt-get (once)…`);
      const env = { DEBIAN_FRONTEND: 'noninteractive' };
      const started = Date.now();
      const update = await runProc(scope, 'apt-get', ['update', '-qq'], { env, timeoutMs });
      const left = Math.max(10_000, timeoutMs - (Date.now() - started));
      const install = await runProc(scope, 'apt-get', ['install', '-y', '-q', '--no-install-recommends', ...pkgs], { env, timeoutMs: left });
      if (install.code !== 0) {
        const why = install.timedOut ? 'apt-get timed out' : `apt-get failed: ${(install.stderr || update.stderr).trim().split('\n').pop()}`;
        for (const [name, t] of missing) if (!existsSync(t.bin)) box.missing.set(name, why);
      }
      // Debian enables opentracker as a service on all interfaces: the bench runs its own on loopback
      if (pkgs.includes('opentracker') && existsSync('/run/systemd/system')) {
        await runProc(scope, 'systemctl', ['disable', '--now', 'opentracker'], { timeoutMs: 20_000 });
      }
    }
  }
  for (const [name, t] of Object.entries(APT_TOOLS)) {
    if (existsSync(t.bin)) {
      box.found.set(name, t.bin);
      box.versions[name] = await dpkgVersion(scope, t.pkg);
    } else if (!box.missing.has(name)) box.missing.set(name, 'not installed');
  }
}

/** The stub that replaces webrtc-polyfill: WebRTC needs node-datachannel's native build, which cannot be had here. */
const WEBRTC_STUB = `// p2p bench stub: no WebRTC (node-datachannel's native build is not installed)
export const RTCPeerConnection = undefined
export const RTCSessionDescription = undefined
export const RTCIceCandidate = undefined
export default {}
`;

/** webtorrent-cli (and so the webtorrent library) into `dir`, once. Returns webtorrent's entry module. */
async function ensureWebtorrent(scope: Scope, dir: string, box: Toolbox, timeoutMs: number, log: (m: string) => void): Promise<void> {
  const entry = join(dir, 'node_modules', 'webtorrent', 'index.js');
  const cliPkg = join(dir, 'node_modules', 'webtorrent-cli', 'package.json');
  if (!existsSync(entry) || !existsSync(cliPkg)) {
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'p2p-bench-tools', private: true }) + '\n');
    log(`installing webtorrent-cli into ${dir} (npm, --ignore-scripts; once)…`);
    const r = await runProc(scope, 'npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error', 'webtorrent-cli@6'], {
      cwd: dir,
      timeoutMs,
    });
    if (r.code !== 0 || !existsSync(entry)) {
      box.missing.set('webtorrent', r.timedOut ? 'npm install timed out' : `npm install failed: ${(r.stderr || r.error || '').trim().split('\n').pop()}`);
      return;
    }
  }
  const polyfill = join(dir, 'node_modules', 'webrtc-polyfill', 'index.js');
  if (existsSync(polyfill) && !readFileSync(polyfill, 'utf8').includes('p2p bench stub')) await writeFile(polyfill, WEBRTC_STUB);
  box.found.set('webtorrent', entry);
  const version = (p: string) => (JSON.parse(readFileSync(p, 'utf8')) as { version: string }).version;
  box.versions.webtorrent = `${version(join(dir, 'node_modules', 'webtorrent', 'package.json'))} (from webtorrent-cli ${version(cliPkg)})`;
}

/** Find or install every external tool; what cannot be had is in `missing` with the reason. */
export async function toolbox(scope: Scope, toolsDir: string, timeoutMs: number, log: (m: string) => void): Promise<Toolbox> {
  const box: Toolbox = { found: new Map(), missing: new Map(), versions: {} };
  await ensureApt(scope, box, timeoutMs, log);
  await ensureWebtorrent(scope, join(toolsDir, 'webtorrent'), box, timeoutMs, log);
  return box;
}
