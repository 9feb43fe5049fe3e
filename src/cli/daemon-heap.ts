// V8 heap settings for the long-running peer daemon, made when it starts: `p2p peer` is run as
// `node main.js peer` (by hand, by `p2p up`, by the bench), so node's command line cannot be
// counted on for them. Memory, not allocation speed, is what a peer that runs for days should
// save, as long as the CPU per GiB does not suffer (bench peer-rss and download-*-cpu).
import { PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';

/** The young generation's size (both semi-spaces) the daemon lets it grow to. */
export const YOUNG_GENERATION_CAP_BYTES = 4 * 1024 * 1024;

const youngBytes = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;

/**
 * - `--optimize-for-size`: collections bring the old generation back to what is live instead of
 *   letting the garbage of a long download grow it (4 GiB download: 127 → about 95 MB peak RSS).
 * - the young generation is held at `capBytes`: with node's defaults it doubles up to 32 MB as
 *   the objects of the chunks in flight keep surviving scavenges, 8–24 MB of the peak RSS. Held at
 *   its start size (about 2 MB) it cost CPU (4–8 × the scavenges, each copying the same requests
 *   in flight, more of them promoted: the downloader's GC share went from 2–6 % to 6–9 % in
 *   profiles, 2–4 % with this cap) and saved no more memory, so it grows up to the cap and stops.
 *   `--max-semi-space-size` counts only at start, and node refuses a growth factor below 2 on its
 *   command line, but V8 reads `--semi-space-growth-factor` each time it would grow the space:
 *   after every collection the factor is set to 2 while the next doubling stays within the cap,
 *   else 1 (test/unit/daemon-heap.test.ts checks that this still holds with the node in use).
 * Returns a function that stops steering (the settings made stay).
 */
export function tuneHeapForDaemon(capBytes = YOUNG_GENERATION_CAP_BYTES): () => void {
  setFlagsFromString('--optimize-for-size');
  let factor = 0;
  const steer = () => {
    const want = youngBytes() * 2 <= capBytes ? 2 : 1;
    if (want === factor) return;
    factor = want;
    setFlagsFromString(`--semi-space-growth-factor=${want}`);
  };
  steer();
  const gcs = new PerformanceObserver(steer);
  gcs.observe({ entryTypes: ['gc'] });
  return () => gcs.disconnect();
}
