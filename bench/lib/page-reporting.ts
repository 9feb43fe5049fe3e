// Free page reporting: a VM whose balloon driver hands its free memory back to the host
// (`/sys/module/page_reporting`, on the machines of 2026-12-06) pays the host's first touch again
// each time it writes into pages it freed a few seconds before: 0.9–1.8 s of system time per GiB
// of new page cache against 0.15–0.25 s when the pages are still backed (bench/README.md, "A VM
// that gives its free memory back"). Touching the memory once before a run does not last, so the
// bench only says how much was handed back while it ran: every case that writes new files pays
// that cost on both sides of its pairing, and the lab's downloads pay it in the "other" CPU.
import { readFileSync } from 'node:fs';

const REPORTED = '/sys/module/page_reporting/parameters/reported_kib';

/** KiB the guest has reported free to the host since boot (undefined: no free page reporting). */
export function reportedKib(path = REPORTED): number | undefined {
  try {
    const n = Number(readFileSync(path, 'utf8').trim());
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/** GiB handed back between two readings (undefined when either is missing). */
export function reportedGiB(before: number | undefined, after: number | undefined): number | undefined {
  if (before === undefined || after === undefined) return undefined;
  return Math.round(((after - before) / 1024 ** 2) * 10) / 10;
}
