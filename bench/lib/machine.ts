// What the numbers were measured on: written at the top of bench/results/latest.json.
import { cpus, totalmem, release, platform } from 'node:os';

export interface MachineInfo {
  cpu: string;
  cores: number;
  memoryGiB: number;
  os: string;
  node: string;
  natsServer: string;
  date: string;
  quick: boolean;
  /** versions of the external tools that were found (filled in as they are set up) */
  tools: Record<string, string>;
  /** GiB of free memory the VM handed back to its host while the bench ran (free page reporting; absent: none) */
  freePagesReportedGiB?: number;
}

export function machineInfo(natsServer: string, quick: boolean): MachineInfo {
  const list = cpus();
  return {
    cpu: list[0]?.model.trim() ?? 'unknown',
    cores: list.length,
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    os: `${platform()} ${release()}`,
    node: process.version,
    natsServer,
    date: new Date().toISOString(),
    quick,
    tools: {},
  };
}
