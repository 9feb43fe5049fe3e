// The LAN lab itself, and the product's LAN mode through it: broker, tracker and peers on
// different hosts (network namespaces on a bridge), a download across real interfaces, and a peer
// started without --host that nobody else can reach and says so.
import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Lan, sh } from '../helpers/lan.js';
import { labCli, labDaemon, labNats, labTest, natsUrls, share, tcpProbe } from '../helpers/lab-swarm.js';
import { lastJson } from '../helpers/processes.js';
import { Scope } from '../helpers/scope.js';
import { tempDir } from '../helpers/tmp.js';

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const lab = await labTest(test);

lab('the lab: hosts reach each other over the bridge; cut and heal; caps on both ends; all gone after teardown', async (t) => {
  const scope = new Scope();
  let names: string[] = [];
  let lan: Lan | undefined;
  try {
    lan = await Lan.create(scope, { hosts: ['a', 'b'] });
    const a = lan.host('a');
    const b = lan.host('b');
    t.not(a.addr, b.addr);
    t.regex(a.addr, /^10\.\d+\.\d+\.2$/);
    names = await lan.namespaces();
    t.is(names.length, 3, 'a, b and the switch');
    t.true(names.every((n) => n.includes(lan!.runId)));

    // a listener in b, reached from a over b's address, not over loopback
    const server = lan.spawn('b', process.execPath, ['-e', `require('net').createServer(s=>{s.on('error',()=>{});s.end('hi')}).listen(7000,${JSON.stringify(b.addr)},()=>console.log('listening'))`]);
    await server.waitFor(/listening/);
    t.is(await tcpProbe(lan, 'a', b.addr, 7000), 'ok');
    t.is(await tcpProbe(lan, 'a', '127.0.0.1', 7000), 'ECONNREFUSED', "a's loopback is its own");

    await lan.cut('b');
    t.is(await tcpProbe(lan, 'a', b.addr, 7000), 'ETIMEDOUT', 'a cut link drops packets');
    await lan.heal('b');
    t.is(await tcpProbe(lan, 'a', b.addr, 7000), 'ok');

    // 20 Mbit/s both ways: 1 MiB from a to b takes ≥ ~0.4 s (tbf on a's eth0 and on b's switch port)
    await lan.cap('a', '20mbit');
    const q = await lan.qdiscs('a');
    t.regex(q.host, /tbf .*rate 20Mbit/);
    t.regex(q.switch, /tbf .*rate 20Mbit/);
    const sink = lan.spawn('b', process.execPath, ['-e', `let n=0;require('net').createServer(s=>{s.on('error',()=>{});s.on('data',d=>n+=d.length);s.on('end',()=>{console.log('got',n);s.end()})}).listen(7001,${JSON.stringify(b.addr)},()=>console.log('listening'))`]);
    await sink.waitFor(/listening/);
    const send = `const s=require('net').connect(7001,${JSON.stringify(b.addr)},()=>{const t0=Date.now();s.end(Buffer.alloc(1<<20));s.on('close',()=>console.log('ms',Date.now()-t0))});s.resume()`;
    const out = await lan.exec('a', process.execPath, ['-e', send]);
    const ms = Number(/ms (\d+)/.exec(out)?.[1]);
    await sink.waitFor(/got 1048576/);
    t.true(ms >= 300, `1 MiB at 20 Mbit/s took ${ms} ms`);
    await lan.uncap('a');
  } finally {
    await scope.run();
  }
  const left = (await sh('ip', ['netns', 'list'])).split('\n').filter((l) => names.some((n) => l.startsWith(n)));
  t.deepEqual(left, [], 'every namespace of the lab is gone');
});

lab('the lab with jumbo frames: MTU 9000 at both ends of every link, a capped transfer crosses it whole; a bad MTU is refused', async (t) => {
  const scope = new Scope();
  try {
    await t.throwsAsync(Lan.create(scope, { hosts: ['a'], mtu: 100 }), { message: /MTU 100: an integer from 576 to 65535/ });
    const lan = await Lan.create(scope, { hosts: ['a', 'b'], mtu: 9000 });
    t.deepEqual(await lan.mtu('a'), { host: 9000, switch: 9000 });
    t.deepEqual(await lan.mtu('b'), { host: 9000, switch: 9000 });
    await lan.cap('a', '100mbit');
    await lan.cap('b', '100mbit');
    const b = lan.host('b').addr;
    const sink = lan.spawn('b', process.execPath, ['-e', `let n=0;require('net').createServer(s=>{s.on('error',()=>{});s.on('data',d=>n+=d.length);s.on('end',()=>{console.log('got',n);s.end()})}).listen(7002,${JSON.stringify(b)},()=>console.log('listening'))`]);
    await sink.waitFor(/listening/);
    // 4 MiB in 64 KiB writes: full-size jumbo segments through both tbf queues and the bridge
    const send = `const s=require('net').connect(7002,${JSON.stringify(b)},()=>{for(let i=0;i<64;i++)s.write(Buffer.alloc(65536,i));s.end()});s.resume();s.on('close',()=>console.log('sent'))`;
    await lan.exec('a', process.execPath, ['-e', send]);
    await sink.waitFor(/got 4194304/);
    t.pass();
  } finally {
    await scope.run();
  }
});

lab('LAN mode: broker, tracker and peers on four hosts; a download crosses real interfaces byte-identical; a peer without --host cannot serve and says so', async (t) => {
  const root = await tempDir(t, 'p2p-lan-');
  const lan = await Lan.create(t, { hosts: ['nats', 'tracker', 'seed', 'leech', 'lonely'] });
  await labNats(lan, 'nats', root);
  const common = ['--nats', natsUrls(lan, ['nats']), '--prefix', 'lan'];
  await labDaemon(lan, 'tracker', ['tracker', ...common, '--log-file', join(root, 'tracker.jsonl')], /tracker ready/);

  const content = randomBytes(3 * 1024 * 1024 + 777);
  await share(root, 'seed', 'film.bin', content);
  const seedAddr = lan.host('seed').addr;
  const seed = await labDaemon(lan, 'seed', ['peer', '--dir', join(root, 'seed'), '--id', 'seed', '--host', seedAddr, ...common], /peer ready/);
  t.true(seed.lines.some((l) => l.includes(`endpoint=${seedAddr}:`)), 'the seeder announces its LAN address');
  t.false(seed.lines.some((l) => /reachable only from this machine/.test(l)));
  const fast = { P2P_DOWNLOAD_MAX_RETRIES: '2', P2P_DOWNLOAD_MAX_STRIKES: '1' };
  await labDaemon(lan, 'leech', ['peer', '--dir', join(root, 'leech'), '--id', 'leech', '--host', lan.host('leech').addr, ...common], /peer ready/, fast);

  const got = await labCli(lan, 'leech', ['get', 'film.bin', '--peer', 'leech', '--json', ...common]);
  t.is(got.code, 0, got.stderr);
  const out = lastJson<{ path: string }>(got);
  t.is(sha(await readFile(out.path)), sha(content), 'byte-identical across the bridge');

  // no --host: the chunk server listens on 127.0.0.1 of its own host and announces that
  await share(root, 'lonely', 'alone.bin', randomBytes(200_000));
  const lonely = await labDaemon(lan, 'lonely', ['peer', '--dir', join(root, 'lonely'), '--id', 'lonely', ...common], /peer ready/);
  const warning = await lonely.waitFor(/reachable only from this machine/);
  t.regex(warning, /--host/);
  const failed = await labCli(lan, 'leech', ['get', 'alone.bin', '--peer', 'leech', '--json', '--timeout', '60', ...common], { timeoutMs: 90_000 });
  t.not(failed.code, 0, 'nobody on another host can download from it');
  t.regex(failed.stdout + failed.stderr, /loopback address[^]*without --host/, `the error names the cause:\n${failed.stdout}\n${failed.stderr}`);
});
