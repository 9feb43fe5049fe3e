// The CLI's zod-free checked replies (src/protocol/checked-replies.ts) against their zod schemas:
// the same output on valid replies; never accepting what zod refuses on every mutated or random
// one. Then decodeLight: a reply the check refuses still gets zod's message naming the field, and
// an error reply or another protocol version is still told apart.
import test from 'ava';
import { Light } from '../../src/protocol/checked-replies.js';
import { decodeLight, encode, tryDecodeLight } from '../../src/protocol/codec.js';
import * as M from '../../src/protocol/messages.js';
import { ProtocolError, UnsupportedVersionError } from '../../src/errors.js';
import { FILE_ID, compareSuite } from '../helpers/checked-compare.js';

const v = M.PROTOCOL_VERSION;
const meta = { fileId: FILE_ID, name: 'movie.mkv', size: 5_000_000, chunkSize: 1 << 20, chunkCount: 5 };
const endpoint = { host: '10.0.0.7', port: 4000 };
const info = {
  downloadId: 'dl-m1abc2de-3f9a1c',
  target: 'movie.mkv',
  fileId: FILE_ID,
  name: 'movie.mkv',
  state: 'fetching',
  status: 'running',
  verifiedChunks: 2,
  totalChunks: 5,
  bytes: 2 << 20,
  totalBytes: 5_000_000,
  rateBps: 1234.5,
  sources: 2,
  retries: 1,
  attempts: 1,
  path: '/tmp/x/downloads/movie.mkv',
  error: { code: 'PEER_TIMEOUT', message: 'slow' },
  startedAt: 1_700_000_000_000,
  finishedAt: 1_700_000_001_000,
};
const { fileId: _f, name: _n, path: _p, error: _e, finishedAt: _fa, retries: _r, ...bareInfo } = info;
const entry = { downloadId: 'dl-1', seq: 3, ts: 1_700_000_000_000, from: 'lookup', to: 'fetching', event: 'FOUND', verifiedChunks: 0, totalChunks: 5, bytes: 0, sources: 1, retries: 0, attempts: 0, detail: 'two sources', final: false };
const { detail: _d, retries: _r2, ...bareEntry } = entry;
const status = {
  v,
  ok: true,
  peerId: 'seed',
  endpoint,
  dir: '/srv/p2p',
  shared: [{ ...meta, origin: 'shared', path: '/srv/p2p/shared/movie.mkv' }],
  downloads: [info, bareInfo],
  served: { chunks: 10, bytes: 10 << 20 },
  sharedTotal: 1,
  downloadsTotal: 2,
  next: 7,
};

compareSuite('ErrorReply', M.ErrorReply, Light.ErrorReply.check, [{ v, ok: false, code: 'NOT_FOUND', message: 'no such file' }]);
compareSuite('Ack', M.Ack, Light.Ack.check, [{ v, ok: true }, { v, ok: true, more: 1 }]);
compareSuite('ListReply', M.ListReply, Light.ListReply.check, [{ v, ok: true, total: 2, files: [{ ...meta, sources: 3 }, { ...meta, name: 'b', sources: 0 }], peers: 4 }, { v, ok: true, total: 0, files: [], peers: 0 }]);
compareSuite('PeersReply', M.PeersReply, Light.PeersReply.check, [{ v, ok: true, total: 1, peers: [{ peerId: 'seed', endpoint, files: 3, lastSeen: 1_700_000_000_000 }] }]);
compareSuite('IntentReply', M.IntentReply, Light.IntentReply.check, [{ v, ok: true, downloadId: 'dl-1', attached: false }]);
compareSuite('ProgressEvent', M.ProgressEvent, Light.ProgressEvent.check, [{ ...info, v, peerId: 'dl' }, { ...bareInfo, v, peerId: 'dl', status: 'already-present' }], 60);
compareSuite('StatusReply', M.StatusReply, Light.StatusReply.check, [status, { ...status, shared: [], downloads: [], sharedTotal: undefined, downloadsTotal: undefined, next: undefined }], 30);
compareSuite('TraceReply', M.TraceReply, Light.TraceReply.check, [{ v, ok: true, entries: [entry, bareEntry], truncated: 0, finished: true, total: 2, next: 2 }, { v, ok: true, entries: [], truncated: 5, finished: false }], 60);
compareSuite('TraceEvent', M.TraceEvent, Light.TraceEvent.check, [{ ...entry, v, peerId: 'dl' }]);

test('decodeLight: what the check refuses gets zod’s message naming the field', async (t) => {
  const bad = encode({ v, ok: true, total: 1, files: [{ ...meta, chunkSize: 0, sources: 1 }], peers: 1 });
  const err = await t.throwsAsync(decodeLight(Light.ListReply, bad, 'reply from tracker'), { instanceOf: ProtocolError });
  t.regex(err!.message, /invalid reply from tracker: files\.0\.chunkSize/);
  await t.throwsAsync(decodeLight(Light.Ack, encode({ v: 2, ok: true })), { instanceOf: UnsupportedVersionError });
  t.deepEqual(await decodeLight(Light.Ack, encode({ v, ok: true, extra: [1] })), { v, ok: true });
});

test('tryDecodeLight: a bad or foreign event is undefined, never a throw', (t) => {
  t.is(tryDecodeLight(Light.ProgressEvent, encode({ ...info, v, peerId: 'dl', bytes: -1 })), undefined);
  t.is(tryDecodeLight(Light.ProgressEvent, encode({ ...info, v: 9, peerId: 'dl' })), undefined);
  t.is(tryDecodeLight(Light.ProgressEvent, new Uint8Array([0xc1])), undefined);
  t.is(tryDecodeLight(Light.ProgressEvent, encode({ ...info, v, peerId: 'dl' }))?.downloadId, info.downloadId);
});
