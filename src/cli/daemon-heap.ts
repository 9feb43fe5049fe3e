// V8 heap settings for the long-running peer daemon, set at start (node takes no V8 flags from
// NODE_OPTIONS, and `p2p peer` is started as `node main.js peer`, so they cannot come from the
// command line). Memory, not allocation speed, is what a peer that runs for days should save: the
// hot path is hashing and syscalls, not JS (bench peer-rss and download-*-cpu).
import { setFlagsFromString } from 'node:v8';

/**
 * - `--optimize-for-size`: collections bring the old generation back to what is live instead of
 *   letting the garbage of a long download grow it (4 GiB download: 127 → about 95 MB peak RSS).
 * - `--semi-space-growth-factor=1`: the young generation keeps its start size (about 2 MB)
 *   instead of doubling up to 32 MB as the objects of chunks in flight keep surviving
 *   scavenges: that growth was 8–16 MB of the peak RSS. More scavenges of a small young
 *   generation cost little: what they copy (the requests in flight) is the same whatever its
 *   size. Node refuses a factor below 2 on its command line, but V8 reads the flag each time it
 *   would grow the space, so setting it at run time holds (test/unit/daemon-heap.test.ts checks
 *   that it still does with the node in use).
 */
export function tuneHeapForDaemon(): void {
  setFlagsFromString('--optimize-for-size');
  setFlagsFromString('--semi-space-growth-factor=1');
}
