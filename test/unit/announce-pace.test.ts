// How a downloader paces its availability messages as the swarm grows (src/download/announce-pace.ts):
// the base window while few others download the file, then wider so that what each downloader
// receives from all the others stays about ANNOUNCE_RATE_PER_FILE a second, never past a second;
// answers to queries at most once per file per window.
import test from 'ava';
import { ANNOUNCE_RATE_PER_FILE, AnswerPacer, announceWindowMs, DownloaderCount, LISTENER_TTL_MS, MAX_ANNOUNCE_WINDOW_MS } from '../../src/download/announce-pace.js';
import { ManualClock } from '../helpers/manual-clock.js';

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

test('answers to queries: the first at once, those within the window after it once at its end, with what is held then', async (t) => {
  const clock = new ManualClock();
  const pacer = new AnswerPacer(clock);
  let held = 'v1';
  const sent: Array<[number, string]> = [];
  const answer = () => sent.push([clock.now() - start, held]);
  const start = clock.now();
  pacer.query('f', 50, answer);
  t.deepEqual(sent, [[0, 'v1']], 'the first query is answered at once');
  await clock.advance(10);
  for (let i = 0; i < 20; i++) pacer.query('f', 50, answer); // twenty downloaders starting together
  held = 'v2';
  t.is(sent.length, 1, 'nothing more within the window');
  await clock.advance(40);
  t.deepEqual(sent, [[0, 'v1'], [50, 'v2']], 'one answer at the window end covers them all, with the state of then');
  await clock.advance(100);
  pacer.query('f', 50, answer);
  t.deepEqual(sent.at(-1), [150, 'v2'], 'a quiet window later: at once again');
  pacer.query('g', 50, answer);
  t.is(sent.length, 4, 'each file has its own window');
});

test('stop cancels the answers due', async (t) => {
  const clock = new ManualClock();
  const pacer = new AnswerPacer(clock);
  let answers = 0;
  pacer.query('f', 50, () => answers++);
  pacer.query('f', 50, () => answers++);
  pacer.stop();
  await clock.advance(1000);
  t.is(answers, 1);
});
