// Headless Chromium for browser tests: Debian's /usr/bin/chromium driven by playwright-core.
// Missing chromium skips the test with a printed reason, except under CI=true where it fails.
import { mkdirSync } from 'node:fs';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext } from 'playwright-core';
import type { Teardown } from './scope.js';

export const CHROMIUM = process.env.P2P_CHROMIUM ?? '/usr/bin/chromium';

/** Why the browser tests cannot run here (undefined: they can); throws under CI. */
export function browserMissing(): string | undefined {
  if (existsSync(CHROMIUM)) return undefined;
  const reason = `${CHROMIUM} is missing (Debian: apt-get install -y chromium)`;
  if (process.env.CI === 'true' || process.env.CI === '1') throw new Error(`browser tests cannot run under CI: ${reason}`);
  return reason;
}

/** Launch with a fresh profile (--user-data-dir); closed (and the profile removed) at teardown. */
export async function launchBrowser(t: Teardown): Promise<BrowserContext> {
  const profile = await mkdtemp(join(tmpdir(), 'p2p-chromium-'));
  // playwright passes the profile as --user-data-dir itself (it refuses the flag in args)
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1360, height: 900 },
  });
  t.teardown(async () => {
    await browser.close().catch(() => undefined);
    await rm(profile, { recursive: true, force: true });
  });
  return browser;
}

/** A folder for this run's screenshots (kept after the run, printed so people look at them). */
export function screenshotDir(name: string): string {
  const dir = fileURLToPath(new URL(`../../test-results/${name}/`, import.meta.url));
  mkdirSync(dir, { recursive: true });
  return dir;
}
