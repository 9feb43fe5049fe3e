// Free page reporting in the bench's machine section (bench/lib/page-reporting.ts).
import test from 'ava';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { reportedGiB, reportedKib } from '../../bench/lib/page-reporting.js';

test('the reported KiB are read from the module parameter; no such file or a bad one gives undefined', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'page-reporting-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'reported_kib');
  writeFileSync(file, '44608248\n');
  t.is(reportedKib(file), 44608248);
  writeFileSync(file, 'x\n');
  t.is(reportedKib(file), undefined);
  t.is(reportedKib(join(dir, 'none')), undefined);
});

test('GiB handed back between two readings, to a tenth; a missing reading gives undefined', (t) => {
  t.is(reportedGiB(1024 * 1024, 3.5 * 1024 * 1024), 2.5);
  t.is(reportedGiB(0, 0), 0);
  t.is(reportedGiB(undefined, 5), undefined);
  t.is(reportedGiB(5, undefined), undefined);
});
