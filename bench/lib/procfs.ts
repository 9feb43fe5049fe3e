// What /proc says about a child process: peak resident memory (VmHWM, the kernel's own
// high-water mark, read at the end, and VmRSS polled meanwhile as a cross-check) and CPU time.
import { readFileSync } from 'node:fs';

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

function statTimes(path: string): { user: number; sys: number; minorFaults: number } | undefined {
  try {
    const stat = readFileSync(path, 'utf8');
    // fields after "(comm)": state is field 3, utime 14, stime 15 (clock ticks, 100 per second)
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // minflt is field 10: page faults served without I/O (fresh anonymous memory, among others)
    return { user: Number(fields[11]) / 100, sys: Number(fields[12]) / 100, minorFaults: Number(fields[7]) };
  } catch {
    return undefined;
  }
}
