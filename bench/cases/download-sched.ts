// Where the downloading peer's main thread (its event loop: socket reads, SHA-256, the protocol)
// spent a download's wall time, per GiB: on a core, runnable but waiting in a run queue for one
// (the cores busy with other processes), or off the cores (waiting for the sockets' data or the
// disk), over the peer's own intent-to-verified time (the `get`'s start-up, during which the peer
// idles, is taken out of the last). From
// /proc/PID/task/PID/schedstat, exact to the nanosecond. download-3to1 puts its runs beside their
// paired 1-source runs: what grew says why three seeders were slower (bench/README.md, "Where the
// downloader's main thread waits").
import type { Schedstat } from '../lib/procfs.js';
import { GiB, median } from '../lib/stats.js';

/** Seconds per GiB of the main thread's wall time, and the times it was put on a core per GiB. */
export interface MainTime {
  run: number;
  wait: number;
  off: number;
  slices: number;
}

/**
 * The main thread's MainTime between two readings `wallSec` apart, in which `bytes` were
 * downloaded; `outsideSec` of that wall time was the `get`'s own (its start-up and exit, before and
 * after the peer's intent-to-verified time), when the peer sits idle: it is not counted as off.
 */
export function mainTime(before: Schedstat | undefined, after: Schedstat | undefined, wallSec: number, bytes: number, outsideSec = 0): MainTime | undefined {
  if (!before || !after || bytes <= 0) return undefined;
  const g = bytes / GiB;
  const run = after.runSec - before.runSec;
  const wait = after.waitSec - before.waitSec;
  return { run: run / g, wait: wait / g, off: Math.max(0, wallSec - Math.max(0, outsideSec) - run - wait) / g, slices: (after.slices - before.slices) / g };
}

/** Field by field the median of the runs that have one; undefined when none does. */
export function medianTime(xs: Array<MainTime | undefined>): MainTime | undefined {
  const ok = xs.filter((x): x is MainTime => x !== undefined);
  if (ok.length === 0) return undefined;
  const m = (f: keyof MainTime) => median(ok.map((x) => x[f]));
  return { run: m('run'), wait: m('wait'), off: m('off'), slices: m('slices') };
}

/** "on a core 1.38 s, waiting for one 0.12, off the cores 0.35 (9 100 slices)" */
export function mainTimeText(t: MainTime): string {
  return `on a core ${t.run.toFixed(2)} s, waiting for one ${t.wait.toFixed(2)}, off the cores ${t.off.toFixed(2)} (${Math.round(t.slices)} times on a core)`;
}

/**
 * The 3-source runs' main thread beside the paired 1-source runs', and how each of its three
 * times moved: waiting for a core means the cores (other processes on them), off the cores that
 * the thread lacked data, on a core that it had more to do.
 */
export function mainTimeCompare(three: MainTime | undefined, one: MainTime | undefined): string {
  if (!three || !one) return '';
  const moved = `on a core ${signed(three.run - one.run)}, waiting for one ${signed(three.wait - one.wait)}, off the cores ${signed(three.off - one.off)}`;
  return `; the downloader's main thread per GiB with three seeders ${three.run.toFixed(2)} s on a core, ${three.wait.toFixed(2)} waiting for one, ${three.off.toFixed(2)} off the cores, against ${one.run.toFixed(2)}, ${one.wait.toFixed(2)}, ${one.off.toFixed(2)} with one (${moved})`;
}

/** "+0.12" / "−0.05": a difference in s/GiB, signed (the CPU rows' notes use it too). */
export function signed(x: number): string {
  return `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(2)}`;
}
