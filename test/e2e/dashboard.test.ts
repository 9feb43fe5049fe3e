// The dashboard in a real headless Chromium, against a real broker, tracker and peers (child
// processes): files appear, a download walks the machine diagram to `done` while the chunk map
// fills, a download started from the page is cancelled from the page, a hostile file name stays
// text, and with --host nothing is served without the token. Screenshots: test-results/dashboard/.
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { startNats } from '../helpers/nats.js';
import { tempDir } from '../helpers/tmp.js';
import { lastJson, runCli, startDaemon } from '../helpers/processes.js';
import { Scope } from '../helpers/scope.js';
import { defaultChunks } from '../helpers/default-chunks.js';
import { browserMissing, launchBrowser, screenshotDir } from '../helpers/browser.js';

const HOSTILE = '<img src=x onerror=alert(1)>.bin';
const MiB = 1024 * 1024;
const missing = browserMissing();
if (missing) process.stdout.write(`dashboard browser tests skipped: ${missing}\n`);
const browserTest = missing ? test.skip : test.serial;

const scope = new Scope();
test.after.always(() => scope.run());

let url = '';
let root = '';
let common: string[] = [];
let browser: BrowserContext;
const shots = screenshotDir('dashboard');
const dialogs: string[] = [];

test.before(async () => {
  if (missing) return;
  const nats = await startNats(scope);
  root = await tempDir(scope, 'p2p-dash-');
  common = ['--nats', nats.url, '--prefix', 'dash'];
  await startDaemon(scope, ['tracker', ...common, '--log-file', join(root, 'tracker.jsonl')], { ready: /tracker ready/ });
  await mkdir(join(root, 'alice', 'shared'), { recursive: true });
  await writeFile(join(root, 'alice', 'shared', 'movie.bin'), randomBytes(16 * MiB));
  await writeFile(join(root, 'alice', 'shared', 'big.bin'), randomBytes(24 * MiB));
  await writeFile(join(root, 'alice', 'shared', HOSTILE), randomBytes(1000));
  const peer = (id: string, extra: string[] = []) =>
    startDaemon(scope, ['peer', '--dir', join(root, id), '--id', id, ...extra, ...common], { ready: /peer ready/ });
  await peer('alice');
  // slow downloaders, so the page can watch (and cancel) them
  await peer('bob', ['--download-limit', '4M']);
  await peer('carol', ['--download-limit', '1M']);
  const dash = await startDaemon(scope, ['dashboard', '--port', '0', ...common], { ready: /dashboard ready at / });
  url = /dashboard ready at (\S+)/.exec(await dash.waitFor(/dashboard ready at /))![1]!;
  browser = await launchBrowser(scope);
  process.stdout.write(`dashboard screenshots: ${shots}\n`);
});

/** A full-page picture from the top (a sticky header would otherwise land mid-page). */
async function shoot(page: Page, name: string): Promise<void> {
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: join(shots, name), fullPage: true });
}

async function openPage(): Promise<Page> {
  const page = await browser.newPage();
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    void d.dismiss();
  });
  await page.goto(url);
  await page.waitForSelector('#conn[data-state="live"]', { timeout: 15_000 });
  return page;
}

browserTest('the swarm view lists the files (a hostile name as text, a new one as it appears) with full availability maps', async (t) => {
  const page = await openPage();
  await page.waitForFunction(() => document.querySelectorAll('#files tr[data-file]').length === 3, undefined, { timeout: 20_000 });
  const names = await page.$$eval('#files .file-name', (els) => els.map((e) => e.textContent));
  t.true(names.includes(HOSTILE), `hostile name shown verbatim: ${JSON.stringify(names)}`);
  t.is(await page.$$eval('img', (els) => els.length), 0, 'no element came out of a file name');
  const movie = page.locator('#files tr[data-name="movie.bin"] canvas');
  await page.waitForFunction(() => document.querySelector('#files tr[data-name="movie.bin"] canvas')?.getAttribute('data-min') === '1', undefined, { timeout: 10_000 });
  t.is(await movie.getAttribute('data-available'), String(defaultChunks(16 * MiB)));
  t.is(await movie.getAttribute('data-chunks'), String(defaultChunks(16 * MiB)));
  // a file shared now appears without reloading
  await writeFile(join(root, 'alice', 'shared', 'fresh.bin'), randomBytes(3 * MiB + 5));
  await page.waitForSelector('#files tr[data-name="fresh.bin"]', { timeout: 20_000 });
  t.is(await page.locator('#files tr[data-name="fresh.bin"] canvas').getAttribute('data-chunks'), String(defaultChunks(3 * MiB + 5)));
  await page.waitForSelector('.card[data-peer="bob"]', { timeout: 10_000 });
  t.deepEqual((await page.$$eval('.card .peer-id', (els) => els.map((e) => e.textContent))).sort(), ['alice', 'bob', 'carol']);
  await shoot(page, '1-swarm.png');
  t.deepEqual(dialogs, [], 'no script ran from a file name');
  await page.close();
});

browserTest('a download moves through the machine diagram to done while its chunk map fills', async (t) => {
  const page = await openPage();
  // watch the page as a person would: what the diagram lights and what the map shows
  await page.evaluate(() => {
    const w = window as unknown as { seen: { current: string[]; partial: boolean; max: number } };
    w.seen = { current: [], partial: false, max: 0 };
    setInterval(() => {
      const cur = document.querySelector('#machine-diagram')?.getAttribute('data-current') ?? '';
      if (cur && w.seen.current[w.seen.current.length - 1] !== cur) w.seen.current.push(cur);
      const row = document.querySelector('#files tr[data-name="movie.bin"]');
      if (row?.querySelector('.holders')?.textContent?.includes('◐ bob')) w.seen.partial = true;
      w.seen.max = Math.max(w.seen.max, Number(row?.querySelector('canvas')?.getAttribute('data-max') ?? 0));
    }, 50);
  });
  const get = runCli(['get', 'movie.bin', '--peer', 'bob', '--json', '--timeout', '60', ...common], { timeoutMs: 90_000 });
  await page.waitForSelector('#download-list tr[data-peer-id="bob"][data-state="fetching"]', { timeout: 20_000 });
  await page.waitForSelector('#machine-diagram g.node.current[data-state="fetching"]', { timeout: 10_000 });
  await shoot(page, '2-download-fetching.png');
  const r = await get;
  t.is(r.code, 0, r.stderr);
  const { downloadId } = lastJson<{ downloadId: string }>(r);
  await page.waitForSelector(`#download-list tr[data-download="bob/${downloadId}"][data-status="done"]`, { timeout: 15_000 });
  await page.waitForSelector('#machine-diagram g.node.current[data-state="done"]', { timeout: 10_000 });
  // the whole path is marked: every state visited and the transitions taken
  for (const state of ['lookup', 'fetching', 'joining']) t.true(await page.locator(`#machine-diagram g.node.visited[data-state="${state}"]`).count() === 1, state);
  t.true((await page.locator('#machine-diagram g.edge.taken').count()) >= 3);
  // the map fills: bob serves chunks while downloading, then holds the whole file
  await page.waitForFunction(() => document.querySelector('#files tr[data-name="movie.bin"] canvas')?.getAttribute('data-min') === '2', undefined, { timeout: 15_000 });
  const seen = await page.evaluate(() => (window as unknown as { seen: { current: string[]; partial: boolean; max: number } }).seen);
  t.log('states lit on the diagram:', seen.current.join(' → '));
  t.true(seen.current.includes('fetching') && seen.current[seen.current.length - 1] === 'done', seen.current.join(','));
  t.true(seen.partial, 'bob showed as a partial holder (◐) while downloading');
  // the trace timeline: every transition, ending final
  await page.waitForFunction(() => document.querySelector('#trace-table tbody tr:last-child')?.classList.contains('final'), undefined, { timeout: 10_000 });
  const events = await page.$$eval('#trace-table tbody tr td:nth-child(4)', (els) => els.map((e) => e.textContent));
  t.true(events.includes('join.done') || events.includes('xstate.done.actor.join'), events.join(','));
  // the same path, for people who read: p2p trace --mermaid
  const traced = await runCli(['trace', downloadId, '--peer', 'bob', '--mermaid', ...common]);
  t.is(traced.code, 0, traced.stderr);
  t.regex(traced.stdout, /fetching --> joining: fetch\.complete \(step \d+\)/);
  t.regex(traced.stdout, /class done current/);
  await page.locator('#downloads').screenshot({ path: join(shots, '3-download-done.png') });
  await shoot(page, '4-page-after-download.png');
  await page.close();
});

browserTest('a download started from the page is cancelled from the page', async (t) => {
  const page = await openPage();
  await page.waitForSelector('#start-peer option[value="carol"]', { state: 'attached', timeout: 10_000 });
  await page.selectOption('#start-peer', 'carol');
  await page.fill('#start-target', 'big.bin');
  await page.click('#start-button');
  const row = page.locator('#download-list tr[data-peer-id="carol"][data-status="running"]');
  await row.waitFor({ timeout: 15_000 });
  const downloadId = (await row.getAttribute('data-download-id'))!;
  await page.waitForSelector(`#download-list tr[data-download="carol/${downloadId}"][data-state="fetching"]`, { timeout: 15_000 });
  await shoot(page, '5-before-cancel.png');
  await page.locator(`#download-list tr[data-download="carol/${downloadId}"] button.cancel`).click();
  await page.waitForSelector(`#download-list tr[data-download="carol/${downloadId}"][data-status="cancelled"]`, { timeout: 15_000 });
  await page.waitForSelector('#machine-diagram g.node.current[data-state="cancelled"]', { timeout: 10_000 });
  // the peer itself says so
  const status = lastJson<{ downloads: Array<{ downloadId: string; status: string }> }>(await runCli(['status', '--peer', 'carol', '--json', ...common]));
  t.is(status.downloads.find((d) => d.downloadId === downloadId)?.status, 'cancelled');
  await shoot(page, '6-cancelled.png');
  t.deepEqual(dialogs, []);
  await page.close();
});

test.serial('the loopback dashboard refuses other Host names and cross-site actions', async (t) => {
  if (missing) return t.pass();
  const base = new URL(url);
  // a DNS-rebinding page would arrive with its own Host name (fetch cannot forge Host: use http)
  const evil = await new Promise<number>((resolve, reject) =>
    request({ host: base.hostname, port: base.port, path: '/api/state', headers: { host: 'evil.example' } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    })
      .on('error', reject)
      .end(),
  );
  t.is(evil, 421);
  const page = await fetch(new URL('/', base));
  t.is(page.status, 200);
  t.regex(page.headers.get('content-security-policy') ?? '', /default-src 'none'; script-src 'self'/);
  const noHeader = await fetch(new URL('/api/cancel', base), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  t.is(noHeader.status, 403);
  const bad = await fetch(new URL('/api/intent', base), { method: 'POST', headers: { 'content-type': 'application/json', 'x-p2p-dashboard': '1' }, body: JSON.stringify({ peer: '../x', target: 'a' }) });
  t.is(bad.status, 400);
});

browserTest('with --host the page, the stream and the actions need the token', async (t) => {
  const dash = await startDaemon(scope, ['dashboard', '--port', '0', '--host', '127.0.0.2', ...common], { ready: /dashboard ready at / });
  const withToken = new URL(/dashboard ready at (\S+)/.exec(await dash.waitFor(/dashboard ready at /))![1]!);
  const token = withToken.searchParams.get('token')!;
  t.truthy(token && token.length >= 16, 'a token was generated and printed');
  const base = new URL('/', withToken);
  for (const path of ['/', '/events', '/api/state', '/api/machine', '/assets/app.js']) {
    t.is((await fetch(new URL(path, base))).status, 401, `GET ${path} without the token`);
    t.is((await fetch(new URL(path + (path.includes('?') ? '&' : '?') + 'token=wrong', base))).status, 401, `GET ${path} with a wrong token`);
  }
  for (const path of ['/api/intent', '/api/cancel']) {
    const res = await fetch(new URL(path, base), { method: 'POST', headers: { 'content-type': 'application/json', 'x-p2p-dashboard': '1' }, body: JSON.stringify({ peer: 'bob', target: 'movie.bin', downloadId: 'x' }) });
    t.is(res.status, 401, `POST ${path} without the token`);
  }
  t.is((await fetch(new URL('/api/state', base), { headers: { authorization: `Bearer ${token}` } })).status, 200);
  // in the browser: refused without it, working with it (the cookie carries it afterwards)
  const page = await browser.newPage();
  const refused = await page.goto(base.href);
  t.is(refused?.status(), 401);
  await page.goto(withToken.href);
  await page.waitForSelector('#conn[data-state="live"]', { timeout: 15_000 });
  await page.waitForFunction(() => document.querySelectorAll('#files tr[data-file]').length === 4, undefined, { timeout: 20_000 });
  t.false(page.url().includes('token='), 'the token leaves the address bar');
  await page.screenshot({ path: join(shots, '7-token.png') });
  await page.close();
});
