// tracker-restart: a `p2p tracker` (default memory store) holding 10 000 peers × 100 files is
// stopped and started again; the peers re-announce as real ones do on the new tracker's hello
// (at once, each signing afresh; 128 in flight here), and the row is the time from the stop to
// full lookups again (a sample of files all back with every source). Both trackers run under
// --cpu-prof: the row keeps each profile's top functions (the first one's covers the first
// announces that announce-cpu measures), so a miss is explained by a profile.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { BenchCase } from '../lib/context.js';
import { profileSummary } from '../lib/cpuprofile.js';
import { benchConnection, startTracker, type Swarm } from '../lib/p2p.js';
import { cpuSeconds } from '../lib/procfs.js';
import { Requester } from '../lib/requester.js';
import { makeAnnounces, makeFiles, registerAll, PEERS, FILES_PER_PEER, UNIVERSE } from '../lib/registry-load.js';
import { judge, type CaseResult } from '../lib/report.js';
import { withScope } from '../lib/scope.js';
import { decodeRaw, encode } from '../../src/protocol/codec.js';
import { PROTOCOL_VERSION } from '../../src/protocol/messages.js';
import { subjects } from '../../src/protocol/subjects.js';

const TARGET_SECONDS = 15;
/** files looked up to call the registry whole again (each must have all its sources) */
const SAMPLE = 2000;
const SOURCES_PER_FILE = (PEERS * FILES_PER_PEER) / UNIVERSE;

export const trackerRestart: BenchCase = {
  name: 'tracker-restart',
  rows: ['tracker-restart'],
  async run(ctx) {
    const swarm: Swarm = { natsUrl: ctx.nats.url, prefix: `bench-rs-${process.pid}` };
    const s = subjects(swarm.prefix);
    return withScope(ctx.scope, async (scope) => {
      const files = makeFiles();
      const announces = makeAnnounces(files);
      const dir = join(ctx.work, 'tracker-restart');
      const profDir = join(dir, 'profile');
      const firstProfDir = join(dir, 'profile-first');
      await mkdir(profDir, { recursive: true });
      await mkdir(firstProfDir, { recursive: true });
      const env = { P2P_TRACKER_TTL_MS: '86400000' };
      // node refuses --cpu-prof in NODE_OPTIONS: a flag of the child itself
      const prof = (d: string) => ['--cpu-prof', `--cpu-prof-dir=${d}`];
      const first = await startTracker(scope, swarm, dir, env, prof(firstProfDir));
      const nc = await benchConnection(scope, ctx.nats.url, 'bench-restart');
      const rq = new Requester(nc, scope);
      const registerMs = await registerAll(rq, s.announce, announces);
      ctx.log(`registered ${PEERS} peers × ${FILES_PER_PEER} files in ${(registerMs / 1000).toFixed(1)} s; restarting the tracker`);

      const t0 = performance.now();
      await first.stop();
      const stopped = performance.now();
      const second = await startTracker(scope, swarm, dir, env, prof(profDir));
      const ready = performance.now();
      const cpu0 = cpuSeconds(second.pid);
      await registerAll(rq, s.announce, announces);
      const cpu1 = cpuSeconds(second.pid);
      const reannounced = performance.now();
      // full again: a sample of files, every one with all its sources
      let missing = 0;
      for (let k = 0; k < SAMPLE; k++) {
        const fileId = files[Math.floor((k * UNIVERSE) / SAMPLE)]!.fileId;
        const reply = decodeRaw(await rq.request(s.lookup, encode({ v: PROTOCOL_VERSION, fileId }))) as { matches?: Array<{ sources: unknown[] }> };
        if ((reply.matches?.[0]?.sources.length ?? 0) < SOURCES_PER_FILE) missing++;
      }
      const full = performance.now();
      await second.stop();
      const profile = await profileSummary(profDir);
      // the first tracker's profile: the first announces of every peer (what announce-cpu measures)
      const firstProfile = await profileSummary(firstProfDir);
      const seconds = missing === 0 ? (full - t0) / 1000 : null;
      const perAnnounceUs = cpu0 !== undefined && cpu1 !== undefined ? Math.round(((cpu1 - cpu0) / PEERS) * 1e6) : null;
      const pass = judge(seconds, TARGET_SECONDS, 'atMost');
      ctx.log(`tracker-restart: ${seconds?.toFixed(1) ?? '?'} s to full lookups (stop ${((stopped - t0) / 1000).toFixed(1)}, start ${((ready - stopped) / 1000).toFixed(1)}, re-announce ${((reannounced - ready) / 1000).toFixed(1)}, check ${((full - reannounced) / 1000).toFixed(1)} s)`);
      const row: CaseResult = {
        name: 'tracker-restart',
        value: seconds,
        unit: 's to full lookups',
        baseline: null,
        ratio: null,
        target: TARGET_SECONDS,
        direction: 'atMost',
        pass,
        runs: seconds === null ? [] : [seconds],
        detail: {
          store: 'memory',
          peers: PEERS,
          filesPerPeer: FILES_PER_PEER,
          stopSeconds: (stopped - t0) / 1000,
          startSeconds: (ready - stopped) / 1000,
          reannounceSeconds: (reannounced - ready) / 1000,
          checkSeconds: (full - reannounced) / 1000,
          reannouncesPerSecond: Math.round(PEERS / ((reannounced - ready) / 1000)),
          trackerCpuPerReannounceUs: perAnnounceUs,
          sampledFiles: SAMPLE,
          filesMissingSources: missing,
          profiled: true,
          profileTop: profile?.top ?? null,
          profileFile: profile?.file ?? null,
          firstAnnouncesProfileTop: firstProfile?.top ?? null,
          firstAnnouncesProfileFile: firstProfile?.file ?? null,
        },
        note:
          seconds === null
            ? `${missing} of ${SAMPLE} sampled files still lacked sources after every peer re-announced`
            : `stop → ready ${((ready - t0) / 1000).toFixed(1)} s, ${PEERS} re-announces in ${((reannounced - ready) / 1000).toFixed(1)} s (${perAnnounceUs ?? '?'} µs CPU each, under --cpu-prof); top: ${profile?.top
                .slice(0, 3)
                .map((l) => `${l.fn.split(' ')[0]} ${l.selfPct}%`)
                .join(', ')}`,
      };
      return [row];
    });
  },
};
