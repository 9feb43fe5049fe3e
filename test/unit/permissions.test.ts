// The shipped broker permissions follow the subjects: every tracker request subject the code
// defines is one the tracker role may subscribe to, and every one a peer asks the tracker is one a
// peer may publish to — in the single-broker config and in the cluster's. A new tracker subject
// (as `tracker.key` was) fails here, not only in the slow e2e runs under access control.
import test from 'ava';
import { readFile } from 'node:fs/promises';
import { subjects } from '../../src/protocol/subjects.js';

const FILES = ['docs/nats-server.conf', 'config/nats-cluster/permissions.conf'];
const s = subjects('p2p');
const trackerSubjects = Object.values(s).filter((v): v is string => typeof v === 'string' && v.startsWith('p2p.tracker.') && v !== s.hello);
/** what a peer asks of the tracker (list and peers are the CLI's) */
const peerAsks = [s.announce, s.heartbeat, s.bye, s.lookup, s.key];

/** The text of the block that follows `marker` up to its closing brace (braces balanced). */
function block(text: string, marker: string | RegExp): string {
  const at = typeof marker === 'string' ? text.indexOf(marker) : text.search(marker);
  if (at < 0) throw new Error(`no ${marker}`);
  let depth = 0;
  for (let i = text.indexOf('{', at); i < text.length; i++) {
    if (text[i] === '{') depth++;
    else if (text[i] === '}' && --depth === 0) return text.slice(at, i + 1);
  }
  throw new Error(`unbalanced block after ${marker}`);
}
const quoted = (text: string) => new Set([...text.matchAll(/"([^"]+)"/g)].map((m) => m[1]!));

for (const file of FILES) {
  test(`${file}: the tracker role may subscribe to every tracker request subject`, async (t) => {
    const text = await readFile(file, 'utf8');
    const allowed = quoted(block(block(text, 'TRACKER = {'), 'subscribe'));
    t.true(trackerSubjects.length >= 7);
    t.deepEqual(trackerSubjects.filter((x) => !allowed.has(x)), []);
  });

  test(`${file}: a peer may publish every request it makes of the tracker`, async (t) => {
    const text = await readFile(file, 'utf8');
    const allowed = quoted(block(block(text, /user: peer1\b/), 'publish'));
    t.deepEqual(peerAsks.filter((x) => !allowed.has(x)), []);
  });
}
