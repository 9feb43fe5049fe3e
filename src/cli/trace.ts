// `p2p trace DOWNLOAD [--peer ID]`: the download machine's transitions; --follow streams them. The
// download is its id, a file name (its latest download) or `last`.
import type { Command } from 'commander';
import type { TraceEntry } from '../protocol/messages.js';
import { action, formatBytes, peerIdOption } from './args.js';
import { PROTOCOL_VERSION, isToken } from '../protocol/ids.js';

export function traceCommand(program: Command): void {
  program
    .command('trace')
    .description("show a download's state-machine transitions (state, event, time, chunk counts)")
    .argument('<download>', 'download id (as printed by `p2p get` or `p2p status`), a file name (its latest download) or `last`')
    .option('--peer <id>', 'peer that runs (or ran) the download (default: env P2P_PEER or peer.default)', peerIdOption)
    .option('--follow', 'keep streaming transitions until the machine ends')
    .option('--all', 'every transition from the first (default: the last 5000)')
    .option('--json', 'one JSON object per transition')
    .option('--mermaid', 'the machine diagram (mermaid) with the path this download took')
    .option('--svg', 'the machine diagram (SVG) with the path this download took')
    .action(
      action(async (ref: string, opts: { peer?: string; follow?: boolean; all?: boolean; json?: boolean; mermaid?: boolean; svg?: boolean }, cmd: Command) => {
        const [{ configFrom, clientConnection, peerFrom, resolveDownload, noPeer }, { request }, { tryDecodeLight }, { Light }] = await Promise.all([
          import('./common.js'),
          import('../transport/bus.js'),
          import('../protocol/codec.js'),
          import('../protocol/checked-replies.js'),
        ]);
        const { ProtocolError } = await import('../errors.js');
        const config = await configFrom(cmd);
        const peer = peerFrom(opts.peer, config);
        const { nc, subjects } = await clientConnection(config);
        const print = (e: TraceEntry) => process.stdout.write(opts.json ? JSON.stringify(e) + '\n' : formatEntry(e) + '\n');
        try {
          let downloadId: string;
          try {
            // an id as `get` makes them is used as is; a name or `last` is looked up
            downloadId = /^dl-[a-z0-9]+-[0-9a-f]{6}$/.test(ref) ? ref : (await resolveDownload(nc, subjects, config, peer, ref)).downloadId;
          } catch (err) {
            // an id the status no longer lists: its trace file may still be there
            if ((err as { code?: string }).code !== 'NOT_FOUND' || ref === 'last' || !isToken(ref)) throw err;
            downloadId = ref;
          }
          let lastSeq = -1;
          let finished = false;
          const live: TraceEntry[] = [];
          let wake: (() => void) | undefined;
          const sub = opts.follow
            ? nc.subscribe(subjects.traceOf(peer, downloadId), {
                callback: (err, m) => {
                  if (err) return;
                  // a bad message is ignored: the trace request after the stream catches up
                  const event = tryDecodeLight(Light.TraceEvent, m.data);
                  if (!event) return;
                  const { v: _v, peerId: _p, ...entry } = event;
                  live.push(entry);
                  wake?.();
                },
              })
            : undefined;
          if (sub) await nc.flush();
          // pages (issue 9, class 4): each reply fits the broker's max payload, `next` goes on
          const ask = (from?: number) =>
            request(nc, subjects.trace(peer), { v: PROTOCOL_VERSION, downloadId, ...(from !== undefined ? { from } : {}) }, Light.TraceReply, {
              timeoutMs: 5000,
              who: `peer ${peer}`,
              noResponders: noPeer(peer, config),
            });
          const reply = await ask(opts.all ? 0 : undefined);
          for (let next = reply.next; next !== undefined; ) {
            const page = await ask(next);
            reply.entries.push(...page.entries);
            reply.finished = page.finished;
            if (page.next !== undefined && page.next <= next) throw new ProtocolError(`peer ${peer} sent a trace page that does not move on`);
            next = page.next;
          }
          if (opts.mermaid || opts.svg) {
            const { machineDiagram } = await import('./machine.js');
            process.stdout.write(await machineDiagram(opts.svg ? 'svg' : 'mermaid', reply.entries));
            return;
          }
          if (reply.truncated && !opts.json) process.stdout.write(`… ${reply.truncated} earlier transitions in the peer's .p2p/traces/${downloadId}.jsonl\n`);
          for (const e of reply.entries) {
            print(e);
            lastSeq = e.seq;
          }
          finished = reply.finished;
          while (sub && !finished) {
            await new Promise<void>((resolve) => (wake = resolve));
            for (const e of live.splice(0)) {
              if (e.seq <= lastSeq) continue;
              print(e);
              lastSeq = e.seq;
              if (e.final) finished = true;
            }
          }
          sub?.unsubscribe();
        } finally {
          await nc.close();
        }
      }),
    );
}

export function formatEntry(e: TraceEntry): string {
  const time = new Date(e.ts).toISOString().slice(11, 23);
  const move = e.from === e.to ? e.to.padEnd(22) : `${e.from} → ${e.to}`.padEnd(22);
  const counts = `${e.verifiedChunks}/${e.totalChunks} chunks ${formatBytes(e.bytes)}`;
  return `${time}  #${String(e.seq).padStart(3)}  ${move}  ${e.event.padEnd(18)}  ${counts}  src=${e.sources} retries=${e.attempts}${e.detail ? '  ' + e.detail : ''}`;
}
