// `p2p get NAME_OR_FILEID [--peer ID]`: send a download intent to a running peer, follow its
// progress (bar on a terminal, state lines otherwise), print the path when it is complete. While
// a name is not in the swarm it says so, with the retry count and close names that are.
import type { Command } from 'commander';
import type { NatsConnection } from 'nats';
import type { Config } from '../../config/index.js';
import type { DownloadInfo } from '../protocol/messages.js';
import type { Subjects } from '../protocol/subjects.js';
import { PROTOCOL_VERSION, newDownloadId } from '../protocol/ids.js';
import { P2PError } from '../errors.js';
import { ExitCode, action, closest, exitCodeFor, intOption, peerIdOption } from './args.js';
import type { Ui } from './get-ui.js';
import { settledWithin } from '../transport/bus-close.js';

interface GetFlags {
  peer?: string;
  timeout?: number;
  json?: boolean;
  retries?: number;
  quiet?: boolean;
  cancelOnInterrupt?: boolean;
}

const FINAL = new Set(['done', 'already-present', 'failed', 'cancelled']);
/** How long `get` waits for a progress event before it asks the peer for the download's status. */
const STATUS_POLL_MS = 2000;

export function getCommand(program: Command): void {
  program
    .command('get')
    .description('ask a running peer to download a file (by name or fileId) and wait until it is verified')
    .argument('<name-or-fileid>', 'file name as listed by `p2p ls`, or its 64-hex fileId')
    .option('--peer <id>', 'id of the running peer that should download it (default: env P2P_PEER or peer.default)', peerIdOption)
    .option('--timeout <sec>', 'give up after this many seconds (0 = wait until the peer finishes or gives up)', intOption('--timeout', 0))
    .option('--retries <n>', 'lookups the peer retries while the file has no source (default from config)', intOption('--retries', 0))
    .option('--json', 'print one JSON object as the last line')
    .option('-q, --quiet', 'no progress output')
    .option('--cancel-on-interrupt', 'Ctrl-C cancels the download in the peer (by default it goes on there)')
    .action(
      action(async (target: string, opts: GetFlags, cmd: Command) => {
        const { configFrom, clientConnection, peerFrom } = await import('./common.js');
        const config = await configFrom(cmd);
        const peer = peerFrom(opts.peer, config);
        const { nc, subjects } = await clientConnection(config);
        try {
          return await follow(nc, subjects, config, peer, target, opts);
        } finally {
          await nc.close();
        }
      }),
    );
}

async function follow(nc: NatsConnection, s: Subjects, config: Config, peer: string, target: string, opts: GetFlags): Promise<number> {
  if (target.length === 0 || target.length > 255) throw new P2PError('BAD_REQUEST', 'the file name must be 1-255 characters');
  const [{ request }, { tryDecodeLight }, { Light }, { listFiles, noPeer, peerStatus }, { brokerNotes, progressUi, summaryLine }] = await Promise.all([
    import('../transport/bus.js'),
    import('../protocol/codec.js'),
    import('../protocol/checked-replies.js'),
    import('./common.js'),
    import('./get-ui.js'),
  ]);
  let downloadId = newDownloadId();
  let latest: DownloadInfo | undefined;
  let wake: (() => void) | undefined;
  const update = (info: DownloadInfo) => {
    if (info.downloadId !== downloadId) return;
    if (latest && FINAL.has(latest.status) && !FINAL.has(info.status)) return;
    latest = info;
    wake?.();
  };
  const subscribe = (id: string) =>
    nc.subscribe(s.progressOf(peer, id), {
      callback: (err, msg) => {
        if (err) return;
        // a bad progress message is ignored; status polling covers the gap
        const event = tryDecodeLight(Light.ProgressEvent, msg.data);
        if (event) update(event);
      },
    });
  let sub = subscribe(downloadId);
  await nc.flush();

  const reply = await request(nc, s.intent(peer), { v: PROTOCOL_VERSION, target, downloadId, maxRetries: opts.retries }, Light.IntentReply, {
    timeoutMs: 5000,
    who: `peer ${peer}`,
    noResponders: noPeer(peer, config),
  });
  if (reply.downloadId !== downloadId) {
    sub.unsubscribe();
    downloadId = reply.downloadId;
    sub = subscribe(downloadId);
  }
  const ui = await progressUi(opts, target);
  ui.note(`${reply.attached ? 'joined running' : 'started'} download ${downloadId} of "${target}" on peer ${peer}`);
  brokerNotes(nc, ui, peer);
  const maxRetries = opts.retries ?? config.download.maxRetries;
  const waiting = notFoundNotes(ui, target, maxRetries, () => listFiles(nc, s, config, 5000).then((l) => l.files.map((f) => f.name)));

  // Ctrl-C: the download goes on in the peer (say how to watch or cancel it), or is cancelled
  let interrupted = false;
  const onInterrupt = () => {
    if (interrupted) process.exit(ExitCode.interrupted);
    interrupted = true;
    wake?.();
  };
  process.on('SIGINT', onInterrupt);

  const deadline = opts.timeout ? Date.now() + opts.timeout * 1000 : Infinity;
  const poll = async () => {
    try {
      const info = (await peerStatus(nc, s, config, peer, downloadId)).downloads.find((d) => d.downloadId === downloadId);
      if (info) update(info);
    } catch (err) {
      if ((err as P2PError).code === 'UNKNOWN_PEER') throw err;
    }
  };
  try {
    await poll();
    while (!interrupted && (!latest || !FINAL.has(latest.status))) {
      if (Date.now() >= deadline) break;
      // woken by a progress event (or Ctrl-C): show it; only a wait with no news asks the peer
      // for its status, so a running download costs no status request per progress event
      const news = await new Promise<boolean>((resolve) => {
        const t = setTimeout(() => resolve(false), Math.min(STATUS_POLL_MS, Math.max(0, deadline - Date.now())));
        wake = () => {
          clearTimeout(t);
          resolve(true);
        };
      });
      wake = undefined;
      if (latest) {
        ui.update(latest);
        waiting(latest);
      }
      if (!news && !interrupted && (!latest || !FINAL.has(latest.status))) await poll();
    }
  } finally {
    process.removeListener('SIGINT', onInterrupt);
    sub.unsubscribe();
    if (latest) {
      ui.update(latest);
      waiting(latest);
    }
    await waiting.settled();
    ui.stop();
  }

  const cancel = () => request(nc, s.cancel(peer), { v: PROTOCOL_VERSION, downloadId }, Light.Ack, { timeoutMs: 3000, who: `peer ${peer}` }).catch(() => undefined);
  if (interrupted && (!latest || !FINAL.has(latest.status))) {
    if (opts.cancelOnInterrupt) {
      await cancel();
      process.stderr.write(`interrupted: download ${downloadId} cancelled in peer ${peer} (its verified chunks are kept for a later \`p2p get\`)\n`);
      if (opts.json) printJson(latest, downloadId, 'cancelled');
    } else {
      process.stderr.write(
        `interrupted: download ${downloadId} goes on in peer ${peer}.\n` +
          `  watch it:  p2p trace ${downloadId} --peer ${peer} --follow   (or p2p status --peer ${peer})\n` +
          `  cancel it: p2p cancel ${downloadId} --peer ${peer}\n`,
      );
      if (opts.json) printJson(latest, downloadId, 'interrupted');
    }
    return ExitCode.interrupted;
  }
  if (!latest || !FINAL.has(latest.status)) {
    const neverFound = !latest || (latest.verifiedChunks === 0 && (latest.state === 'lookup' || latest.state === 'retrying'));
    if (neverFound) {
      await cancel();
      return finish(opts, latest, downloadId, new P2PError('TIMEOUT', `"${target}" was not found in the swarm within ${opts.timeout} s (download ${downloadId} cancelled)`));
    }
    const err = new P2PError('TIMEOUT', `download ${downloadId} still running after ${opts.timeout} s (${latest!.verifiedChunks}/${latest!.totalChunks} chunks); it goes on in peer ${peer} — follow it with \`p2p status --peer ${peer}\``);
    return finish(opts, latest, downloadId, err);
  }
  if (latest.status === 'done' || latest.status === 'already-present') {
    if (!opts.quiet) process.stderr.write(summaryLine(latest) + '\n');
    return finish(opts, latest, downloadId);
  }
  const { errorFromCode } = await import('../errors.js');
  const e = latest.error ? errorFromCode(latest.error.code, latest.error.message) : new P2PError(latest.status === 'cancelled' ? 'CANCELLED' : 'INTERNAL', `download ${latest.status}`);
  return finish(opts, latest, downloadId, e);
}

/**
 * While the file has no source: "not in the swarm yet; waiting, retry 3 of 40", once per retry,
 * and once the close names the swarm does have.
 */
function notFoundNotes(ui: Ui, target: string, maxRetries: number, names: () => Promise<string[]>): ((i: DownloadInfo) => void) & { settled(): Promise<void> } {
  let lastAttempt = -1;
  let suggested = false;
  let pending: Promise<void> = Promise.resolve();
  const note = (i: DownloadInfo) => {
    if (i.status !== 'running' || i.totalChunks > 0 || (i.state !== 'lookup' && i.state !== 'retrying')) return;
    if (i.attempts === lastAttempt || i.attempts === 0) return;
    lastAttempt = i.attempts;
    ui.note(`"${target}" is not in the swarm yet; waiting, retry ${i.attempts} of ${maxRetries}`);
    if (suggested || /^[0-9a-f]{64}$/.test(target)) return;
    suggested = true;
    pending = names()
      .then((all) => {
        const near = closest(target, all);
        if (near.length) ui.note(`did you mean ${near.join(' or ')}?`);
      })
      .catch(() => undefined);
  };
  /** the suggestion, if one is on its way (a download may give up before the tracker answers) */
  const settled = () => settledWithin(pending, 3000).then(() => undefined);
  return Object.assign(note, { settled });
}

function printJson(info: DownloadInfo | undefined, downloadId: string, status: string, err?: P2PError): void {
  const out = {
    downloadId,
    fileId: info?.fileId ?? null,
    name: info?.name ?? null,
    path: info?.path ?? null,
    bytes: info?.totalBytes ?? 0,
    status,
    state: info?.state ?? null,
    chunks: info?.totalChunks ?? 0,
    sources: info?.sources ?? 0,
    retries: info?.retries ?? 0,
    seconds: info ? ((info.finishedAt ?? Date.now()) - info.startedAt) / 1000 : 0,
    ...(err ? { error: { code: err.code, message: err.message } } : {}),
  };
  process.stdout.write(JSON.stringify(out) + '\n');
}

function finish(opts: GetFlags, info: DownloadInfo | undefined, downloadId: string, err?: P2PError): number {
  if (opts.json) printJson(info, downloadId, err && info?.status === 'running' ? 'timeout' : (info?.status ?? 'timeout'), err);
  if (err) {
    process.stderr.write(`p2p: ${err.message} [${err.code}]\n`);
    return exitCodeFor(err);
  }
  if (!opts.json) process.stdout.write(`${info!.path}\n`);
  return ExitCode.ok;
}
