// `p2p get NAME_OR_FILEID --peer ID`: send a download intent to a running peer, follow its
// progress (bar on a terminal, state lines otherwise), print the path when it is complete.
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import type { NatsConnection } from 'nats';
import { decode } from '../protocol/codec.js';
import {
  Ack,
  IntentReply,
  PROTOCOL_VERSION,
  ProgressEvent,
  StatusReply,
  type DownloadInfo,
} from '../protocol/messages.js';
import type { Subjects } from '../protocol/subjects.js';
import { newDownloadId } from '../protocol/ids.js';
import { request } from '../transport/bus.js';
import { P2PError, UnknownPeerError, errorFromCode } from '../errors.js';
import { ExitCode, action, clientConnection, configFrom, exitCodeFor, formatBytes, intOption } from './common.js';

interface GetFlags {
  peer: string;
  timeout?: number;
  json?: boolean;
  retries?: number;
  quiet?: boolean;
}

const FINAL = new Set(['done', 'already-present', 'failed', 'cancelled']);

export function getCommand(program: Command): void {
  program
    .command('get')
    .description('ask a running peer to download a file (by name or fileId) and wait until it is verified')
    .argument('<name-or-fileid>', 'file name as listed by `p2p ls`, or its 64-hex fileId')
    .requiredOption('--peer <id>', 'id of the running peer that should download it')
    .option('--timeout <sec>', 'give up after this many seconds (0 = wait until the peer finishes or gives up)', intOption('--timeout', 0))
    .option('--retries <n>', 'lookups the peer retries while the file has no source (default from config)', intOption('--retries', 0))
    .option('--json', 'print one JSON object as the last line')
    .option('-q, --quiet', 'no progress output')
    .action(
      action(async (target: string, opts: GetFlags, cmd: Command) => {
        const config = configFrom(cmd);
        const { nc, subjects } = await clientConnection(config);
        try {
          return await follow(nc, subjects, target, opts);
        } finally {
          await nc.close();
        }
      }),
    );
}

async function follow(nc: NatsConnection, s: Subjects, target: string, opts: GetFlags): Promise<number> {
  if (target.length === 0 || target.length > 255) throw new P2PError('BAD_REQUEST', 'the file name must be 1-255 characters');
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
    nc.subscribe(s.progressOf(opts.peer, id), {
      callback: (err, m) => {
        if (err) return;
        try {
          update(decode(ProgressEvent, m.data, 'progress'));
        } catch {
          // a bad progress message is ignored; status polling covers the gap
        }
      },
    });
  let sub = subscribe(downloadId);
  await nc.flush();

  const noPeer = () => new UnknownPeerError(`no running peer with id "${opts.peer}" answers on this NATS server (start it with \`p2p peer --dir DIR --id ${opts.peer}\`)`);
  const reply = await request(
    nc,
    s.intent(opts.peer),
    { v: PROTOCOL_VERSION, target, downloadId, maxRetries: opts.retries },
    IntentReply,
    { timeoutMs: 5000, who: `peer ${opts.peer}`, noResponders: noPeer },
  );
  if (reply.downloadId !== downloadId) {
    sub.unsubscribe();
    downloadId = reply.downloadId;
    sub = subscribe(downloadId);
  }
  const ui = progressUi(opts, target, downloadId, reply.attached);
  const started = Date.now();
  const deadline = opts.timeout ? started + opts.timeout * 1000 : Infinity;
  const poll = async () => {
    try {
      const st = await request(nc, s.status(opts.peer), { v: PROTOCOL_VERSION, downloadId }, StatusReply, { timeoutMs: 3000, who: `peer ${opts.peer}`, noResponders: noPeer });
      const info = st.downloads.find((d) => d.downloadId === downloadId);
      if (info) update(info);
    } catch (err) {
      if (err instanceof UnknownPeerError) throw err;
    }
  };
  try {
    await poll();
    while (!latest || !FINAL.has(latest.status)) {
      if (Date.now() >= deadline) break;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(2000, Math.max(0, deadline - Date.now())));
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      wake = undefined;
      if (latest) ui.update(latest);
      if (!latest || !FINAL.has(latest.status)) await poll();
    }
  } finally {
    sub.unsubscribe();
    ui.stop();
  }

  if (!latest || !FINAL.has(latest.status)) {
    const neverFound = !latest || (latest.verifiedChunks === 0 && (latest.state === 'lookup' || latest.state === 'retrying'));
    if (neverFound) {
      await request(nc, s.cancel(opts.peer), { v: PROTOCOL_VERSION, downloadId }, Ack, { timeoutMs: 3000, who: `peer ${opts.peer}` }).catch(() => undefined);
      const err = new P2PError('TIMEOUT', `"${target}" was not found in the swarm within ${opts.timeout} s (download ${downloadId} cancelled)`);
      return finish(opts, latest, downloadId, err);
    }
    const err = new P2PError('TIMEOUT', `download ${downloadId} still running after ${opts.timeout} s (${latest!.verifiedChunks}/${latest!.totalChunks} chunks); it goes on in peer ${opts.peer} — follow it with \`p2p status --peer ${opts.peer}\``);
    return finish(opts, latest, downloadId, err);
  }
  if (latest.status === 'done' || latest.status === 'already-present') return finish(opts, latest, downloadId);
  const e = latest.error ? errorFromCode(latest.error.code, latest.error.message) : new P2PError('INTERNAL', 'download failed');
  return finish(opts, latest, downloadId, e);
}

function finish(opts: GetFlags, info: DownloadInfo | undefined, downloadId: string, err?: P2PError): number {
  if (opts.json) {
    const out = {
      downloadId,
      fileId: info?.fileId ?? null,
      name: info?.name ?? null,
      path: info?.path ?? null,
      bytes: info?.totalBytes ?? 0,
      status: err && info?.status === 'running' ? 'timeout' : (info?.status ?? 'timeout'),
      state: info?.state ?? null,
      chunks: info?.totalChunks ?? 0,
      sources: info?.sources ?? 0,
      retries: info?.retries ?? 0,
      seconds: info ? ((info.finishedAt ?? Date.now()) - info.startedAt) / 1000 : 0,
      ...(err ? { error: { code: err.code, message: err.message } } : {}),
    };
    process.stdout.write(JSON.stringify(out) + '\n');
  }
  if (err) {
    process.stderr.write(`p2p: ${err.message} [${err.code}]\n`);
    return exitCodeFor(err);
  }
  if (!opts.json) {
    if (info!.status === 'already-present') process.stderr.write(`already present, nothing fetched\n`);
    process.stdout.write(`${info!.path}\n`);
  }
  return ExitCode.ok;
}

interface Ui {
  update(info: DownloadInfo): void;
  stop(): void;
}

function progressUi(opts: GetFlags, target: string, downloadId: string, attached: boolean): Ui {
  if (opts.quiet) return { update: () => undefined, stop: () => undefined };
  const say = (line: string) => process.stderr.write(line + '\n');
  say(`${attached ? 'joined running' : 'started'} download ${downloadId} of "${target}"`);
  if (!process.stderr.isTTY || opts.json) {
    let lastState = '';
    return {
      update: (i) => {
        if (i.state === lastState) return;
        lastState = i.state;
        say(`  ${i.state}${i.attempts ? ` (retry ${i.attempts})` : ''}: ${i.verifiedChunks}/${i.totalChunks} chunks, ${formatBytes(i.bytes)} of ${formatBytes(i.totalBytes)}, ${i.sources} sources`);
      },
      stop: () => undefined,
    };
  }
  const bar = new cliProgress.SingleBar(
    {
      format: ' {name} |{bar}| {percentage}% {have}/{total_h} {rate}/s {sources} src {state}',
      barsize: 24,
      hideCursor: true,
      clearOnComplete: false,
      stream: process.stderr,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(1, 0, { name: target.slice(0, 24), have: '0 B', total_h: '?', rate: '0 B', sources: 0, state: 'lookup' });
  return {
    update: (i) => {
      bar.setTotal(Math.max(1, i.totalBytes));
      bar.update(i.status === 'running' ? i.bytes : Math.max(1, i.totalBytes), {
        have: formatBytes(i.bytes),
        total_h: formatBytes(i.totalBytes),
        rate: formatBytes(Math.round(i.rateBps)),
        sources: i.sources,
        state: i.attempts && i.state === 'retrying' ? `retrying (${i.attempts})` : i.state,
      });
    },
    stop: () => bar.stop(),
  };
}
