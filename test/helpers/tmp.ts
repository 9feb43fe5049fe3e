// Temporary directories for tests: made under the OS temp dir, removed in t.teardown whether
// the test passed or not.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Teardown } from './scope.js';

/** A fresh empty directory that is removed (recursively) when the test ends. */
export async function tempDir(t: Teardown, prefix = 'p2p-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}
