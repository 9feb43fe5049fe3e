// Generates docs/dashboard.png, the README's picture of the dashboard: a real broker, tracker,
// four peers and a dashboard (the built CLI), a few downloads, and headless Chromium taking the
// shot while one download is half way. Run: npm run docs:screenshot (needs /usr/bin/chromium).
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startNats } from '../test/helpers/nats.js';
import { tempDir } from '../test/helpers/tmp.js';
import { runCli, startDaemon } from '../test/helpers/processes.js';
import { Scope } from '../test/helpers/scope.js';
import { launchBrowser } from '../test/helpers/browser.js';

const MiB = 1024 * 1024;
const out = fileURLToPath(new URL('../docs/dashboard.png', import.meta.url));
const scope = new Scope();
try {
  const nats = await startNats(scope);
  const root = await tempDir(scope, 'p2p-shot-');
  const common = ['--nats', nats.url, '--prefix', 'shot'];
  await startDaemon(scope, ['tracker', ...common, '--log-file', join(root, 'tracker.jsonl')], { ready: /tracker ready/ });
  const files: Record<string, Array<[string, number]>> = {
    alice: [['holiday-video.mkv', 48 * MiB], ['dataset.tar', 12 * MiB], ['notes.pdf', 300_000]],
    carol: [['dataset.tar', 0], ['song.flac', 9 * MiB]],
  };
  const dataset = randomBytes(12 * MiB);
  for (const [peer, list] of Object.entries(files)) {
    await mkdir(join(root, peer, 'shared'), { recursive: true });
    for (const [name, size] of list) await writeFile(join(root, peer, 'shared', name), name === 'dataset.tar' ? dataset : randomBytes(size));
  }
  const peer = (id: string, extra: string[] = []) => startDaemon(scope, ['peer', '--dir', join(root, id), '--id', id, ...extra, ...common], { ready: /peer ready/ });
  await peer('alice', ['--upload-limit', '12M']);
  await peer('carol');
  await peer('bob', ['--download-limit', '5M']);
  await peer('dave');
  const dash = await startDaemon(scope, ['dashboard', '--port', '0', ...common], { ready: /dashboard ready at / });
  const url = /dashboard ready at (\S+)/.exec(await dash.waitFor(/dashboard ready at /))![1]!;
  const browser = await launchBrowser(scope);
  const page = await browser.newPage();
  await page.setViewportSize({ width: 1360, height: 900 });
  await page.goto(url);
  await page.waitForFunction(() => document.querySelectorAll('#files tr[data-file]').length === 4, undefined, { timeout: 30_000 });
  // some history for the rate plots, then one download caught half way
  const first = await runCli(['get', 'dataset.tar', '--peer', 'dave', '--timeout', '60', ...common]);
  if (first.code !== 0) throw new Error(`dave's download failed: ${first.stderr}`);
  await runCli(['get', 'song.flac', '--peer', 'dave', '--timeout', '60', ...common]);
  const slow = runCli(['get', 'holiday-video.mkv', '--peer', 'bob', '--timeout', '120', ...common], { timeoutMs: 150_000 });
  await page.waitForFunction(
    () => {
      const row = document.querySelector('#download-list tr[data-peer-id="bob"][data-state="fetching"]');
      const pct = row?.querySelector('.pct')?.textContent ?? '';
      return row && Number(/^(\d+)%/.exec(pct)?.[1] ?? 0) >= 45;
    },
    undefined,
    { timeout: 60_000, polling: 100 },
  );
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: out, fullPage: true });
  process.stdout.write(`wrote ${out}\n`);
  await slow;
} finally {
  await scope.run();
}
