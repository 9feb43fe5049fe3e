// The CLI's pure helpers: the exit-code table, durations, ETA, percent (never 100 for a download
// that lacks bytes), close-name suggestions and NATS URL checks.
import test from 'ava';
import { ExitCode, closest, etaSeconds, exitCodeFor, formatDuration } from '../../src/cli/args.js';
import { checkNatsUrl } from '../../src/cli/common.js';
import { percent } from '../../src/cli/status.js';
import { ErrorCodes, P2PError } from '../../src/errors.js';
import type { DownloadInfo } from '../../src/protocol/messages.js';

test('every error code has its exit code; a failed download is 1', (t) => {
  const expected: Record<string, number> = {
    BAD_REQUEST: 2, CONFIG_ERROR: 2, UNSAFE_NAME: 2, NOT_FOUND: 3, TIMEOUT: 3, UNKNOWN_PEER: 4,
    BROKER_UNAVAILABLE: 5, AUTH_FAILED: 5, PERMISSION_DENIED: 5, ID_TAKEN: 6,
  };
  for (const code of ErrorCodes) t.is(exitCodeFor(new P2PError(code, 'x')), expected[code] ?? ExitCode.failed, code);
  t.is(exitCodeFor(new P2PError('RETRIES_EXHAUSTED', 'x')), 1);
});

test('durations and ETA', (t) => {
  t.is(formatDuration(0.42), '0.4s');
  t.is(formatDuration(42), '42s');
  t.is(formatDuration(75), '1m15s');
  t.is(formatDuration(4000), '1h06m');
  t.is(etaSeconds(50, 100, 10), 5);
  t.is(etaSeconds(0, 0, 10), undefined, 'size unknown');
  t.is(etaSeconds(10, 100, 0), undefined, 'no rate yet');
});

const info = (over: Partial<DownloadInfo>): DownloadInfo => ({
  downloadId: 'dl-1', target: 'x', state: 'fetching', status: 'running', verifiedChunks: 0, totalChunks: 0, bytes: 0, totalBytes: 0,
  rateBps: 0, sources: 0, attempts: 0, startedAt: 0, ...over,
});

test('percent is 100 only with every byte', (t) => {
  t.is(percent(info({ status: 'cancelled', bytes: 209, totalBytes: 1400 })), 14);
  t.is(percent(info({ status: 'failed' })), undefined, 'unknown file: no percent at all');
  t.is(percent(info({ bytes: 999_999, totalBytes: 1_000_000 })), 99);
  t.is(percent(info({ status: 'done', bytes: 10, totalBytes: 10 })), 100);
  t.is(percent(info({ status: 'already-present' })), 100);
});

test('did-you-mean finds close names', (t) => {
  t.deepEqual(closest('movei.mkv', ['movie.mkv', 'notes.txt', 'music.mp3']), ['movie.mkv']);
  t.deepEqual(closest('movie', ['movie.mkv', 'zzz']), ['movie.mkv']);
  t.deepEqual(closest('abc', ['xyz']), []);
});

test('NATS URLs as people type them; garbage is refused', (t) => {
  for (const ok of ['nats://127.0.0.1:4222', 'localhost:4222', 'tls://nats.example:4443', 'nats://a:1,nats://b:2', 'nats://[::1]:4222', 'nats://host']) t.is(checkNatsUrl(ok, '--nats'), ok);
  for (const bad of ['garbage', 'http://x:1', 'nats://', 'nats://h:1/path', ':4222']) t.throws(() => checkNatsUrl(bad, '--nats'), { message: /is not a NATS URL/ }, bad);
});
