// download-3to1's note below its target (bench/cases/download.ts): each pair's ratio, the cores and
// the load, and where bench/README.md explains it.
import test from 'ava';
import { belowOneNote } from '../../bench/cases/download.js';

test('below 1to1: every pair, the cores and the load, and the README section', (t) => {
  const note = belowOneNote([0.8423, 0.917, 1.004], 2, 1.31);
  t.regex(note, /^; below 1to1 \(per pair 0\.84, 0\.92, 1\.00\): 3 seeders \+ downloader \(\+ nats\) on 2 cores, load 1\.3:/);
  t.regex(note, /bench\/README\.md, "download-3to1 against download-1to1, and the seeders' CPU"\)$/);
  t.regex(belowOneNote([0.9], 1, 0.5), /on 1 core, load 0\.5/);
});
