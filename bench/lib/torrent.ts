// Just enough BitTorrent for the external-tool rows: find a .torrent's info hash (SHA-1 of the
// bencoded info dictionary, as the file holds it) and make torrents with mktorrent.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { runProc } from './procs.js';
import type { Scope } from './scope.js';

/** Index just past the bencoded value that starts at `pos`. */
function skipValue(buf: Buffer, pos: number, depth = 0): number {
  if (depth > 64) throw new Error('bencode nested too deeply');
  const c = buf[pos];
  if (c === 0x69 /* i */) {
    const end = buf.indexOf(0x65 /* e */, pos);
    if (end < 0) throw new Error('bad bencode integer');
    return end + 1;
  }
  if (c === 0x6c /* l */ || c === 0x64 /* d */) {
    let p = pos + 1;
    while (buf[p] !== 0x65) {
      if (p >= buf.length) throw new Error('unterminated bencode list');
      p = skipValue(buf, p, depth + 1);
    }
    return p + 1;
  }
  if (c !== undefined && c >= 0x30 && c <= 0x39) {
    const colon = buf.indexOf(0x3a /* : */, pos);
    const len = Number(buf.subarray(pos, colon).toString('ascii'));
    if (colon < 0 || !Number.isInteger(len)) throw new Error('bad bencode string');
    return colon + 1 + len;
  }
  throw new Error(`bad bencode at ${pos}`);
}

/** Hex info hash of a .torrent file. */
export function infoHash(torrentFile: string): string {
  const buf = readFileSync(torrentFile);
  if (buf[0] !== 0x64) throw new Error(`${torrentFile} is not a torrent`);
  let p = 1;
  while (buf[p] !== 0x65 && p < buf.length) {
    const keyStart = p;
    p = skipValue(buf, p);
    const key = buf.subarray(buf.indexOf(0x3a, keyStart) + 1, p).toString('latin1');
    const valueStart = p;
    p = skipValue(buf, p);
    if (key === 'info') return createHash('sha1').update(buf.subarray(valueStart, p)).digest('hex');
  }
  throw new Error(`${torrentFile} has no info dictionary`);
}

/** A private (no DHT/PEX) torrent of `file` with 1 MiB pieces, announcing to `announceUrl`. */
export async function makeTorrent(scope: Scope, file: string, announceUrl: string, out: string): Promise<string> {
  await rm(out, { force: true }); // mktorrent will not overwrite
  const r = await runProc(scope, 'mktorrent', ['-p', '-l', '20', '-a', announceUrl, '-o', out, file], { timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`mktorrent failed: ${(r.stderr || r.stdout).trim().split('\n').pop()}`);
  return out;
}
