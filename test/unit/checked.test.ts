// The hand-written checked decoders of the tracker's hot messages (src/protocol/checked.ts)
// against their zod schemas: on valid messages both give the same object, and on every mutated
// one (a field dropped, retyped, out of range, extra keys, nested junk) the checked decoder never
// accepts what zod refuses, nor returns anything but what zod returns. decode() then gives the
// same answers and the same errors as before.
import test from 'ava';
import type { z } from 'zod';
import { checkAnnounce, checkAvailability, checkHeartbeat, checkLookup } from '../../src/protocol/checked.js';
import { decode, encode } from '../../src/protocol/codec.js';
import { FILE_ID, compareSuite, sampleMeta, SAMPLE_ANNOUNCE } from '../helpers/checked-compare.js';
import { AnnounceRequest, ChunkAvailability, HeartbeatRequest, LookupRequest, PROTOCOL_VERSION } from '../../src/protocol/messages.js';
import { ProtocolError } from '../../src/errors.js';

const meta = sampleMeta;
const announce = SAMPLE_ANNOUNCE;
const heartbeat = { v: PROTOCOL_VERSION, peerId: 'bob', endpoint: { host: 'h', port: 65535 }, fileCount: 0 };
const lookups = [{ v: PROTOCOL_VERSION, fileId: FILE_ID }, { v: PROTOCOL_VERSION, name: 'a' }];

const avail = { v: PROTOCOL_VERSION, peerId: 'd1', endpoint: { host: '10.9.0.3', port: 41000 }, fileId: FILE_ID, chunkCount: 20, complete: false };
const availability = [
  { ...avail, chunkCount: 0, complete: true },
  { ...avail, bitfield: Buffer.from([0xff, 0x0f, 0x01]) },
  { ...avail, gained: [[0, 1], [3, 20]] },
  { ...avail, gained: [] },
];

const cases: Array<[string, z.ZodType, (v: unknown) => unknown, unknown[]]> = [
  ['announce', AnnounceRequest, checkAnnounce, [announce, { ...announce, removed: undefined, replace: true }, { ...announce, files: [] }, { ...announce, extra: { deep: [1] } }]],
  ['heartbeat', HeartbeatRequest, checkHeartbeat, [heartbeat, { ...heartbeat, extra: 1 }]],
  ['lookup', LookupRequest, checkLookup, [...lookups, { ...lookups[0], more: 'x' }]],
  ['availability', ChunkAvailability, checkAvailability, availability],
];

for (const [what, schema, check, valid] of cases) compareSuite(what, schema, check, valid);

test('decode() still names the bad field for the hot messages', (t) => {
  const err = t.throws(() => decode(AnnounceRequest, encode({ ...announce, files: [{ ...meta(1), chunkSize: 0 }] })), { instanceOf: ProtocolError });
  t.regex(err.message, /files\.0\.chunkSize/);
  t.throws(() => decode(HeartbeatRequest, encode({ ...heartbeat, fileCount: -1 })), { instanceOf: ProtocolError, message: /fileCount/ });
  t.throws(() => decode(LookupRequest, encode({ v: 1, fileId: FILE_ID, name: 'both' })), { instanceOf: ProtocolError });
  t.deepEqual(decode(AnnounceRequest, encode({ ...announce, removed: undefined })).removed, []);
});
