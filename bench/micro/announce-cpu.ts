// Micro-bench of the tracker's announce path, in-process, no bus (bench/lib/announce-stages.ts):
// CPU µs per 100-file announce for decode + validate, the signature check and the registry.
// For where time goes in a stage: `node --cpu-prof --import tsx bench/micro/announce-cpu.ts`.
// Run: node --expose-gc --import tsx bench/micro/announce-cpu.ts [peers]
import { announceStages } from '../lib/announce-stages.js';

await announceStages(Number(process.argv[2] ?? 3000), (line) => console.log(line));
