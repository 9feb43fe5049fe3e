// What /proc says about a child process: peak resident memory (VmHWM, the kernel's own
// high-water mark, read at the end, and VmRSS polled meanwhile as a cross-check) and CPU time.
import { readdirSync, readFileSync } from 'node:fs';
import { median } from './stats.js';

function statusKb(pid: number, field: 'VmHWM' | 'VmRSS'): number | undefined {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined; // gone, or no /proc
  }
}

/** VmRSS of `pid` now, bytes (undefined when it is gone). */
export function rssNow(pid: number): number | undefined {
  const kb = statusKb(pid, 'VmRSS');
  return kb === undefined ? undefined : kb * 1024;
}

/** Polls VmRSS every `everyMs`; `stop()` returns the peak in bytes (max of polled RSS and VmHWM). */
export function sampleRss(pid: number, everyMs = 50): { stop(): number | undefined } {
  let peakKb = 0;
  const poll = () => {
    const kb = statusKb(pid, 'VmRSS');
    if (kb !== undefined && kb > peakKb) peakKb = kb;
  };
  poll();
  const timer = setInterval(poll, everyMs);
  return {
    stop: () => {
      clearInterval(timer);
      poll();
      const hwm = statusKb(pid, 'VmHWM') ?? 0;
      const kb = Math.max(peakKb, hwm);
      return kb > 0 ? kb * 1024 : undefined;
    },
  };
}

/** The machine's CPU time so far, /proc/stat's first line: user nice system idle iowait irq softirq steal (jiffies). */
export function machineJiffies(): number[] {
  return readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
}

/** Shares of the machine's CPU time between two machineJiffies() readings, in per cent. */
export interface CpuShares {
  idle: number;
  softirq: number;
  /** user and nice */
  user: number;
  /** system and irq */
  system: number;
}

/** The ticks each field of machineJiffies() gained between two readings. */
function jiffyDeltas(before: number[], after: number[]): number[] {
  return after.map((v, i) => v - (before[i] ?? 0));
}

export function cpuShares(before: number[], after: number[]): CpuShares {
  const d = jiffyDeltas(before, after);
  const all = d.reduce((a, b) => a + b, 0) || 1;
  const pct = (v: number) => Math.round((100 * v) / all);
  return { idle: pct(d[3]! + d[4]!), softirq: pct(d[6]!), user: pct(d[0]! + d[1]!), system: pct(d[2]! + d[5]!) };
}

/** The shares over a case's runs, field by field the median. */
export function medianShares(runs: CpuShares[]): CpuShares {
  const m = (f: keyof CpuShares) => median(runs.map((r) => r[f]));
  return { idle: m('idle'), softirq: m('softirq'), user: m('user'), system: m('system') };
}

/** "CPU idle 6 % (softirq 24, user 45, system 25)" */
export function sharesText(s: CpuShares): string {
  return `CPU idle ${s.idle} % (softirq ${s.softirq}, user ${s.user}, system ${s.system})`;
}

/** CPU seconds between two machineJiffies() readings (100 ticks a second): busy (all but idle and iowait) and softirq. */
export function machineSeconds(before: number[], after: number[]): { busy: number; softirq: number } {
  const d = jiffyDeltas(before, after);
  const all = d.reduce((a, b) => a + b, 0);
  return { busy: (all - d[3]! - d[4]!) / 100, softirq: d[6]! / 100 };
}

/** User and system CPU seconds of this process's children that have exited and been waited for (cutime, cstime). */
export function reapedChildrenCpu(): { user: number; sys: number } {
  // cutime is field 16, cstime 17
  const fields = statFields('/proc/self/stat');
  return { user: Number(fields[13]) / 100, sys: Number(fields[14]) / 100 };
}

/** User + system CPU seconds the process has used so far (undefined when it is gone). */
export function cpuSeconds(pid: number): number | undefined {
  const t = cpuTimes(pid);
  return t && t.user + t.sys;
}

/** A process's user and system CPU seconds so far, every thread (undefined once it is gone). */
export function cpuTimes(pid: number): { user: number; sys: number; minorFaults: number } | undefined {
  return statTimes(`/proc/${pid}/stat`);
}

/** One thread's user and system CPU seconds so far (`tid` = `pid` for the main thread). */
export function threadCpuTimes(pid: number, tid: number): { user: number; sys: number; minorFaults: number } | undefined {
  return statTimes(`/proc/${pid}/task/${tid}/stat`);
}

/** One thread's user + system CPU seconds so far (undefined once it is gone). */
export function threadCpuSeconds(pid: number, tid: number): number | undefined {
  const t = threadCpuTimes(pid, tid);
  return t && t.user + t.sys;
}

/** This process's main thread from now on: the returned function gives its CPU seconds since (undefined without /proc). */
export function ownMainThreadCpu(): () => number | undefined {
  const start = threadCpuSeconds(process.pid, process.pid);
  return () => {
    const now = threadCpuSeconds(process.pid, process.pid);
    return now === undefined || start === undefined ? undefined : now - start;
  };
}

/** A thread's scheduler accounting so far, from /proc/PID/task/TID/schedstat (ns, exact, unlike stat's 10 ms ticks). */
export interface Schedstat {
  /** seconds on a core */
  runSec: number;
  /** seconds runnable but waiting in a run queue for a core */
  waitSec: number;
  /** times it was put on a core */
  slices: number;
}

/** `tid`'s Schedstat (`tid` = `pid` for the main thread); undefined once it is gone or without schedstats. */
export function threadSchedstat(pid: number, tid: number): Schedstat | undefined {
  try {
    const [run, wait, slices] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').trim().split(/\s+/).map(Number);
    if (!Number.isFinite(run) || !Number.isFinite(wait) || !Number.isFinite(slices)) return undefined;
    return { runSec: run! / 1e9, waitSec: wait! / 1e9, slices: slices! };
  } catch {
    return undefined;
  }
}

/** Seconds on a core so far of every thread of `pid` (schedstat, ns-exact); undefined once it is gone. */
export function processRunSec(pid: number): number | undefined {
  try {
    let sum = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) sum += threadSchedstat(pid, Number(tid))?.runSec ?? 0;
    return sum;
  } catch {
    return undefined;
  }
}

/** `read(pid)` summed over `pids`; undefined if any reading is (a process gone). */
export function sumOver(pids: number[], read: (pid: number) => number | undefined): number | undefined {
  let sum = 0;
  for (const pid of pids) {
    const x = read(pid);
    if (x === undefined) return undefined;
    sum += x;
  }
  return sum;
}

/**
 * CPU seconds per second that `pids` (summed) take over `ms` of doing nothing asked of them: what
 * running daemons cost per second by themselves (timers, the bus). Undefined if any is gone.
 */
export async function idleCpuPerSecond(pids: number[], ms: number): Promise<number | undefined> {
  const before = sumOver(pids, processRunSec);
  const t0 = performance.now();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const after = sumOver(pids, processRunSec);
  return before === undefined || after === undefined ? undefined : (after - before) / ((performance.now() - t0) / 1000);
}

/** A stat file's fields after "(comm)": [0] is field 3 (state); times are in clock ticks, 100 a second. */
function statFields(path: string): string[] {
  const stat = readFileSync(path, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

function statTimes(path: string): { user: number; sys: number; minorFaults: number } | undefined {
  try {
    // utime is field 14, stime 15
    const fields = statFields(path);
    // minflt is field 10: page faults served without I/O (fresh anonymous memory, among others)
    return { user: Number(fields[11]) / 100, sys: Number(fields[12]) / 100, minorFaults: Number(fields[7]) };
  } catch {
    return undefined;
  }
}
