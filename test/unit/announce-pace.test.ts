// How a downloader paces its availability messages as the swarm grows (src/download/announce-pace.ts):
// the base window while few others download the file, then wider so that what each downloader
// receives from all the others stays about ANNOUNCE_RATE_PER_FILE a second, never past a second.
import test from 'ava';
import { ANNOUNCE_RATE_PER_FILE, announceWindowMs, DownloaderCount, LISTENER_TTL_MS, MAX_ANNOUNCE_WINDOW_MS } from '../../src/download/announce-pace.js';

test('the window is the base while few others download, and widens with them up to a second', (t) => {
  for (const others of [0, 1, 4, 7]) t.is(announceWindowMs(others, 50), 50, `${others} others`);
  t.is(announceWindowMs(14, 50), 100);
  t.is(announceWindowMs(28, 50), 200);
  t.is(announceWindowMs(140, 50), MAX_ANNOUNCE_WINDOW_MS);
  t.is(announceWindowMs(100_000, 50), MAX_ANNOUNCE_WINDOW_MS);
  t.is(announceWindowMs(-3, 50), 50, 'a nonsense count is no count');
  t.is(announceWindowMs(28, 250), 250, 'never under the base');
  t.is(announceWindowMs(28, 5000), 5000, 'a base wider than the cap stays');
});

test('what one downloader receives from the others stays about the target rate as the swarm grows', (t) => {
  for (const others of [8, 20, 50, 100]) {
    const received = (others * 1000) / announceWindowMs(others, 50);
    t.true(received <= ANNOUNCE_RATE_PER_FILE && received > 0.9 * ANNOUNCE_RATE_PER_FILE, `${others} others: ${received.toFixed(1)} a second`);
  }
  // past the cap it grows again, but slowly: one a second per other downloader
  t.is((1000 * 1000) / announceWindowMs(1000, 50), 1000);
});

test('downloaders are counted while heard lately; one that completes leaves at once, a silent one after the ttl', (t) => {
  const c = new DownloaderCount();
  t.is(c.count(0), 0);
  c.heard('a', 0);
  c.heard('b', 1000);
  c.heard('c', 2000);
  c.heard('a', 3000); // heard again: counted once, its time refreshed
  t.is(c.count(3000), 3);
  c.gone('c');
  t.is(c.count(3000), 2);
  t.is(c.count(1000 + LISTENER_TTL_MS), 2, 'b still within the ttl');
  t.is(c.count(1001 + LISTENER_TTL_MS), 1, 'b forgotten, a (heard at 3000) kept');
  t.is(c.count(3001 + LISTENER_TTL_MS), 0);
  c.gone('nobody');
  t.is(c.count(0), 0);
});

test('a flood of peer ids does not grow the count past its bound', (t) => {
  const c = new DownloaderCount();
  for (let i = 0; i < 20_000; i++) c.heard(`p${i}`, 0);
  t.is(c.count(0), 10_000);
});
