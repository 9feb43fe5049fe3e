// A hostile swarm, round two (issue 9), against real processes: a private nats-server, the tracker
// and peers as children of the built CLI, and the scriptable hostile peer of test/helpers (a NATS
// client speaking in any peer's name and a TCP source whose every answer is scripted).
//   class 1  a liar announcing a real fileId with a wrong size first is struck, named, and harmless;
//   class 6  thousands of intents from anyone keep the peer's work and fds bounded;
//   class 3  a source trickling the manifest, listed first, does not hold the download;
//   class 5  remote text cannot make our records invalid; a bad record or cache entry on disk is
//            skipped, not the whole file, and does not stop the peer;
//   class 7  replacing downloads/ (or .p2p/) by a symlink while the peer runs writes nothing outside;
//   class 8  names legal here (`CON`, `aux.c`, `a\b`) are stored as they are, at once.
import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startNats } from '../helpers/nats.js';
import { tempDir } from '../helpers/tmp.js';
import { lastJson, runCli, startDaemon, type Daemon } from '../helpers/processes.js';
import { Scope } from '../helpers/scope.js';
import { writtenOutside } from '../helpers/outside.js';
import { shareFile, HostileBus, hostileSource } from '../helpers/hostile-peer.js';
import { fakeServer } from '../helpers/chunks.js';

const scope = new Scope();
test.after.always(() => scope.run());
const prefix = 'hostile9';
let url = '';
let root = '';
let outside = '';
let bus: HostileBus;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const cli = (args: string[], timeoutMs = 60_000) => runCli([...args, '--nats', url, '--prefix', prefix], { timeoutMs });
const peer = (id: string, env?: Record<string, string>): Promise<Daemon> =>
  startDaemon(scope, ['peer', '--dir', join(root, id), '--id', id, '--nats', url, '--prefix', prefix], { ready: /peer ready/, env });

test.before(async () => {
  const nats = await startNats(scope);
  url = nats.url;
  root = await tempDir(scope, 'p2p-hostile9-');
  outside = await tempDir(scope, 'p2p-outside9-');
  await startDaemon(scope, ['tracker', '--nats', url, '--prefix', prefix, '--log-file', join(root, 'tracker.jsonl')], { ready: /tracker ready/ });
  bus = await HostileBus.connect(scope, url, prefix);
});

const share = (id: string, name: string, content: Buffer) => shareFile(root, id, name, content);

test.serial('class 3: a source trickling the manifest one byte every 2 s, listed first, does not hold the download', async (t) => {
  const content = randomBytes(3 * 1024 * 1024 + 5);
  // the file sits in a folder that is no peer's: only its metadata goes to the hostile source
  const f = await share('nobody', 'slow.bin', content);
  const mallory = await hostileSource(scope, { fileId: f.fileId, manifest: f.manifest, data: content }, {
    manifest: { kind: 'trickle', everyMs: 2000 },
    chunk: { kind: 'trickle', everyMs: 2000 },
  });
  // mallory announces first: the tracker lists it first
  t.true((await bus.announce('mallory', { host: '127.0.0.1', port: mallory.port }, [f.meta])).ok);
  await share('alice', 'slow.bin', content);
  await peer('alice');
  await peer('bob');
  const started = Date.now();
  const r = await cli(['get', 'slow.bin', '--peer', 'bob', '--json', '--timeout', '60']);
  const took = Date.now() - started;
  t.is(r.code, 0, r.stderr);
  t.is(sha(await readFile(lastJson<{ path: string }>(r).path)), sha(content));
  t.true(mallory.asked.manifest >= 1, 'mallory was asked for the manifest');
  // sequential, the 200-byte manifest alone would have taken mallory ~400 s
  t.true(took < 20_000, `took ${took} ms`);
  t.log(`3 MiB downloaded in ${took} ms past a manifest trickler listed first`);
});

test.serial('class 1: a liar announcing a real fileId with a wrong size first is struck and named; the download succeeds', async (t) => {
  const content = randomBytes(2 * 1024 * 1024 + 77);
  const f = await share('nobody', 'claimed.bin', content);
  // mallory's source would even serve the right bytes: its claims alone get it struck
  const mallory = await hostileSource(scope, { fileId: f.fileId, manifest: f.manifest, data: content }, {});
  const lie = { ...f.meta, size: f.meta.size + 4096 };
  t.true((await bus.announce('mallory1', { host: '127.0.0.1', port: mallory.port }, [lie])).ok);
  // the honest seeder announces after the liar
  await share('sally', 'claimed.bin', content);
  await peer('sally');
  await peer('dan');
  const reply = (await bus.request(bus.s.lookup, { v: 1, fileId: f.fileId })) as { matches: Array<{ sources: Array<{ peerId: string; claims?: { size: number } }> }> };
  const sources = reply.matches[0]?.sources ?? [];
  // each source's own claims: the liar's first announce hides nobody's
  t.is(sources.find((x) => x.peerId === 'mallory1')?.claims?.size, lie.size);
  t.is(sources.find((x) => x.peerId === 'sally')?.claims?.size, content.length);
  const started = Date.now();
  const r = await cli(['get', f.fileId, '--peer', 'dan', '--json', '--timeout', '60']);
  t.is(r.code, 0, r.stderr);
  t.log(`2 MiB downloaded in ${Date.now() - started} ms past a liar announcing first`);
  const out = lastJson<{ path: string; downloadId: string; bytes: number; chunks: number }>(r);
  t.is(sha(await readFile(out.path)), sha(content));
  // the sizes shown are the manifest's, not the first announcer's
  t.is(out.bytes, content.length);
  t.is(out.chunks, f.manifest.hashes.length);
  t.is(mallory.asked.chunk, 0, 'no chunk asked of the struck source');
  const trace = (await bus.request(bus.s.trace('dan'), { v: 1, downloadId: out.downloadId })) as { entries: Array<{ to: string; detail?: string }> };
  const named = trace.entries.find((e) => e.to === 'fetching' && e.detail?.includes('mallory1'));
  t.truthy(named, JSON.stringify(trace.entries));
  t.regex(named!.detail!, new RegExp(`size ${lie.size} ≠ ${content.length}`));
});

test.serial('class 6: 5 000 intents fired at a peer: its work and fds stay bounded, a legitimate download still succeeds', async (t) => {
  const content = randomBytes(600_000);
  await share('sally6', 'wanted.bin', content);
  await peer('sally6');
  const victim = await peer('victim', { P2P_PEER_MAX_DOWNLOADS: '4', P2P_PEER_MAX_QUEUED_DOWNLOADS: '60' });
  const pid = victim.child.pid!;
  const fds = async () => (await readdir(`/proc/${pid}/fd`)).length;
  const before = await fds();
  let most = before;
  const codes = new Map<string, number>();
  // 5 000 intents for files nobody has, asking to retry (almost) forever, 100 at a time
  for (let i = 0; i < 5000; i += 100) {
    const replies = await Promise.all(
      Array.from({ length: 100 }, (_, k) =>
        bus.request(bus.s.intent('victim'), { v: 1, target: `nothing-${i + k}-${'z'.repeat(100)}`, maxRetries: 1_000_000 }, { timeoutMs: 10_000 }).catch(() => ({ ok: false, code: 'NO_REPLY' })),
      ),
    );
    for (const r of replies as Array<{ ok: boolean; code?: string }>) codes.set(r.ok ? 'ok' : r.code!, (codes.get(r.ok ? 'ok' : r.code!) ?? 0) + 1);
    most = Math.max(most, await fds());
  }
  t.log(`intents: ${JSON.stringify(Object.fromEntries(codes))}; fds ${before} before, ${most} at most during the flood`);
  t.is(codes.get('NO_REPLY'), undefined, 'every intent was answered');
  for (const code of codes.keys()) t.true(code === 'ok' || code === 'BUSY', code);
  // 64 downloads kept at most (each may hold a trace file), plus sockets coming and going
  t.true(most - before <= 64 + 16, `fds grew by ${most - before}`);
  const st = await cli(['status', '--peer', 'victim', '--json']);
  t.is(st.code, 0, st.stderr);
  const running = (JSON.parse(st.stdout) as { downloads: Array<{ status: string }> }).downloads.filter((d) => d.status === 'running');
  t.true(running.length <= 64, `${running.length} running`);
  // the legitimate download is admitted (the idlest hostile one makes room) and completes
  const r = await cli(['get', 'wanted.bin', '--peer', 'victim', '--json', '--timeout', '60']);
  t.is(r.code, 0, r.stderr);
  t.is(sha(await readFile(lastJson<{ path: string }>(r).path)), sha(content));
  most = Math.max(most, await fds());
  t.true(most - before <= 64 + 16, `fds grew by ${most - before}`);
});

test.serial('class 6: a peer whose downloads are all at work refuses one more with BUSY naming the limit; `p2p get` says so and exits 1', async (t) => {
  const content = randomBytes(100_000);
  const f = await share('nobody', 'stuck.bin', content);
  // a source that never answers the manifest: the download holding the only slot stays at work
  const staller = await hostileSource(scope, { fileId: f.fileId, manifest: f.manifest, data: content }, { manifest: { kind: 'stall' } });
  t.true((await bus.announce('staller6', { host: '127.0.0.1', port: staller.port }, [f.meta])).ok);
  await peer('tight', { P2P_PEER_MAX_DOWNLOADS: '1', P2P_PEER_MAX_QUEUED_DOWNLOADS: '0' });
  const first = (await bus.request(bus.s.intent('tight'), { v: 1, target: f.fileId })) as { ok: boolean };
  t.true(first.ok);
  const r = await cli(['get', 'anything.bin', '--peer', 'tight', '--json', '--timeout', '10']);
  t.is(r.code, 1, r.stdout + r.stderr);
  t.regex(r.stderr, /keeps 1 downloads at most \(peer\.maxDownloads 1 \+ peer\.maxQueuedDownloads 0\).*\[BUSY\]/);
});

test.serial('class 5: error text built from 80 long peer ids of unreachable sources stays bounded; get and status keep working', async (t) => {
  const content = randomBytes(200_000);
  const f = await share('nobody', 'ghost.bin', content);
  const dead = await fakeServer(scope, (s) => s.destroy());
  dead.stopListening();
  for (let i = 0; i < 80; i++) {
    const id = `ghost${i}-`.padEnd(64, 'x');
    t.true((await bus.announce(id, { host: '127.0.0.1', port: dead.port }, [f.meta], 1500)).ok);
  }
  const r = await cli(['get', 'ghost.bin', '--peer', 'bob', '--json', '--retries', '1', '--timeout', '60']);
  t.not(r.code, 0);
  const out = lastJson<{ status: string; error: { code: string; message: string } }>(r);
  t.is(out.status, 'failed', r.stdout);
  t.regex(out.error.code, /RETRIES_EXHAUSTED|PEER_UNREACHABLE|NOT_FOUND/);
  t.true(out.error.message.length <= 1024, `message of ${out.error.message.length} chars`);
  t.regex(out.error.message, /and \d+ more/);
  const st = await cli(['status', '--peer', 'bob', '--json']);
  t.is(st.code, 0, st.stderr);
  t.true((JSON.parse(st.stdout) as { downloads: Array<{ target: string }> }).downloads.some((d) => d.target === 'ghost.bin'));
});

test.serial('class 5: one bad record in downloads.json is skipped with a warning; the good one is resumed', async (t) => {
  const content = randomBytes(400_000);
  await share('alice', 'resume-me.bin', content);
  const base = { state: 'lookup', status: 'running', verifiedChunks: 0, totalChunks: 0, bytes: 0, totalBytes: 0, rateBps: 0, sources: 0, attempts: 0, startedAt: Date.now() };
  await mkdir(join(root, 'carol', '.p2p'), { recursive: true });
  await writeFile(
    join(root, 'carol', '.p2p', 'downloads.json'),
    JSON.stringify({
      version: 1,
      downloads: [
        { ...base, downloadId: 'bad-one', target: 'x', status: 'failed', error: { code: 'PEER_UNREACHABLE', message: 'y'.repeat(5000) } },
        { ...base, downloadId: 'good-one', target: 'resume-me.bin' },
      ],
    }),
  );
  const carol = await peer('carol');
  await carol.waitFor(/download record skipped/);
  const deadline = Date.now() + 30_000;
  let done = false;
  while (!done && Date.now() < deadline) {
    const st = await cli(['status', '--peer', 'carol', '--json']);
    t.is(st.code, 0, st.stderr);
    const downloads = (JSON.parse(st.stdout) as { downloads: Array<{ downloadId: string; status: string }> }).downloads;
    t.false(downloads.some((d) => d.downloadId === 'bad-one'));
    done = downloads.some((d) => d.downloadId === 'good-one' && d.status === 'done');
    if (!done) await new Promise((r) => setTimeout(r, 300));
  }
  t.true(done, 'the good record was resumed to the end');
  t.is(sha(await readFile(join(root, 'carol', 'downloads', 'resume-me.bin'))), sha(content));
});

test.serial('class 5: a corrupt entry in hash-cache.json is dropped and its file re-hashed; the peer starts and shares it', async (t) => {
  const content = randomBytes(150_000);
  const f = await share('dave', 'cached.bin', content);
  const st = await stat(f.path);
  await mkdir(join(root, 'dave', '.p2p'), { recursive: true });
  await writeFile(
    join(root, 'dave', '.p2p', 'hash-cache.json'),
    JSON.stringify({ version: 1, entries: { [join('shared', 'cached.bin')]: { size: st.size, mtimeMs: st.mtimeMs, chunkSize: 1048576, hashes: 12345 } } }),
  );
  const dave = await peer('dave');
  await dave.waitFor(/hash cache entries dropped/);
  const r = await cli(['get', 'cached.bin', '--peer', 'bob', '--json', '--timeout', '30']);
  t.is(r.code, 0, r.stderr);
  t.is(sha(await readFile(lastJson<{ path: string }>(r).path)), sha(content));
});

test.serial('class 5: replies on the bus carry no absolute path of the peer’s machine in error texts', async (t) => {
  const content = randomBytes(20_000);
  await share('alice', 'traced.bin', content);
  const r = await cli(['get', 'traced.bin', '--peer', 'bob', '--json', '--timeout', '30']);
  t.is(r.code, 0, r.stderr);
  const { downloadId } = lastJson<{ downloadId: string }>(r);
  // the trace file made unreadable (a link to itself: ELOOP, whose node text names the full path)
  const traceFile = join(root, 'bob', '.p2p', 'traces', `${downloadId}.jsonl`);
  await rm(traceFile);
  await symlink(traceFile, traceFile);
  const reply = (await bus.request(bus.s.trace('bob'), { v: 1, downloadId })) as { ok: boolean; code: string; message: string };
  t.false(reply.ok);
  t.is(reply.code, 'IO_ERROR');
  t.false(reply.message.includes('/'), reply.message);
  t.regex(reply.message, /ELOOP/);
});

test.serial('class 7: downloads/ replaced by a symlink while the peer runs: the next download writes nothing outside', async (t) => {
  const content = randomBytes(300_000);
  await share('alice', 'fenced.bin', content);
  const erin = await peer('erin');
  const downloads = join(root, 'erin', 'downloads');
  await rename(downloads, join(root, 'erin', 'downloads.moved'));
  await symlink(outside, downloads);
  const r = await cli(['get', 'fenced.bin', '--peer', 'erin', '--json', '--timeout', '30']);
  t.not(r.code, 0);
  t.is(lastJson<{ error: { code: string; message: string } }>(r).error.code, 'IO_ERROR');
  t.regex(lastJson<{ error: { message: string } }>(r).error.message, /downloads\/ was replaced by a symlink/);
  t.deepEqual(await readdir(outside), [], 'nothing written through the link');
  // .p2p/ replaced the same way: history and traces are not written through it either
  await rm(downloads);
  await rename(join(root, 'erin', 'downloads.moved'), downloads);
  const meta = join(root, 'erin', '.p2p');
  await rename(meta, join(root, 'erin', '.p2p.moved'));
  await symlink(outside, meta);
  await cli(['get', 'fenced.bin', '--peer', 'erin', '--json', '--timeout', '10']);
  t.deepEqual(await readdir(outside), [], 'nothing written through the .p2p link');
  t.true(erin.child.exitCode === null, 'the peer keeps running');
  await rm(meta);
  await rename(join(root, 'erin', '.p2p.moved'), meta);
  t.deepEqual(writtenOutside(root, ['tracker.jsonl', 'bindings.json', 'nobody', 'erin/downloads.moved', 'erin/.p2p.moved']), []);
});

test.serial('class 2 (baseline while the tracker runs): the hostile peer announcing in alice’s name is refused', async (t) => {
  const f = await share('nobody', 'squat.bin', randomBytes(1000));
  const reply = await bus.announce('alice', { host: '127.0.0.1', port: 9 }, [f.meta]);
  t.false(reply.ok);
  t.is(reply.code, 'PERMISSION_DENIED');
  const ls = lastJson<{ files: Array<{ name: string }> }>(await cli(['ls', '--json']));
  t.false(ls.files.some((x) => x.name === 'squat.bin'));
});

test.serial('class 8: CON, aux.c and a\\b are stored as they are, at once', async (t) => {
  for (const name of ['CON', 'aux.c', 'a\\b']) {
    const content = randomBytes(50_000);
    await share('alice', name, content);
    const started = Date.now();
    const r = await cli(['get', name, '--peer', 'bob', '--json', '--timeout', '30']);
    t.is(r.code, 0, `${name}: ${r.stderr}`);
    const out = lastJson<{ path: string }>(r);
    t.is(out.path, join(root, 'bob', 'downloads', name));
    t.is(sha(await readFile(out.path)), sha(content));
    t.true(Date.now() - started < 15_000, `${name} took ${Date.now() - started} ms`);
  }
  t.false(existsSync(join(root, 'bob', 'downloads', 'b')), 'a\\b was not cut to b');
});
