// What `p2p get` shows while it waits: a progress bar with rate and ETA on a terminal (notes are
// printed above it, so no line is torn), state lines otherwise, nothing with --quiet.
import type { DownloadInfo } from '../protocol/messages.js';
import { etaSeconds, formatBytes, formatDuration, paint } from './args.js';
import { percent } from './status.js';

export interface Ui {
  update(info: DownloadInfo): void;
  /** a line for the person: above the bar on a terminal, on its own line otherwise */
  note(line: string): void;
  stop(): void;
}

export async function progressUi(opts: { quiet?: boolean; json?: boolean }, target: string): Promise<Ui> {
  const say = (line: string) => process.stderr.write(line + '\n');
  if (opts.quiet) return { update: () => undefined, note: () => undefined, stop: () => undefined };
  if (!process.stderr.isTTY || opts.json) {
    let last = '';
    return {
      update: (i) => {
        const key = `${i.state}/${i.attempts}`;
        if (key === last) return;
        last = key;
        say(`  ${i.state}${i.attempts ? ` (retry ${i.attempts})` : ''}: ${i.verifiedChunks}/${i.totalChunks} chunks, ${formatBytes(i.bytes)} of ${formatBytes(i.totalBytes)}, ${i.sources} sources`);
      },
      note: say,
      stop: () => undefined,
    };
  }
  const { default: cliProgress } = await import('cli-progress');
  const multi = new cliProgress.MultiBar(
    {
      format: ' {name} |{bar}| {pct} {have}/{total_h} {rate} ETA {eta_h} {sources} src {state}',
      barsize: 24,
      hideCursor: true,
      clearOnComplete: false,
      stopOnComplete: false,
      stream: process.stderr,
      autopadding: true,
    },
    cliProgress.Presets.shades_classic,
  );
  const bar = multi.create(1, 0, { name: target.slice(0, 24), pct: '  -', have: '0 B', total_h: '?', rate: '-', eta_h: '?', sources: 0, state: 'lookup' });
  let stopped = false;
  return {
    update: (i) => {
      const pct = percent(i);
      const known = i.totalBytes > 0;
      const eta = i.status === 'running' ? etaSeconds(i.bytes, i.totalBytes, i.rateBps) : undefined;
      bar.setTotal(Math.max(1, i.totalBytes));
      // the bar is only full when every byte is there: never for a cancelled or unknown file
      bar.update(known ? Math.min(i.bytes, i.totalBytes) : 0, {
        pct: pct === undefined ? '  -' : `${String(pct).padStart(3)}%`,
        have: formatBytes(i.bytes),
        total_h: known ? formatBytes(i.totalBytes) : '?',
        rate: i.status === 'running' ? `${formatBytes(Math.round(i.rateBps))}/s` : '-',
        eta_h: eta === undefined ? (i.status === 'running' ? '?' : '-') : formatDuration(eta),
        sources: i.sources,
        state: i.attempts && i.state === 'retrying' ? `retrying (${i.attempts})` : i.status === 'running' ? i.state : i.status,
      });
    },
    note: (line) => {
      if (stopped) say(line);
      else multi.log(line + '\n');
    },
    stop: () => {
      if (stopped) return;
      stopped = true;
      multi.stop();
    },
  };
}

/** The last line of a finished `get`: size, time, average rate, sources used. */
export function summaryLine(i: DownloadInfo): string {
  const name = i.name ?? i.target;
  if (i.status === 'already-present') return paint.green(`${name}: already present (${formatBytes(i.totalBytes)}), nothing fetched`);
  const seconds = Math.max(0.001, ((i.finishedAt ?? Date.now()) - i.startedAt) / 1000);
  const avg = i.totalBytes / seconds;
  return `${paint.green('done')}: ${name} ${formatBytes(i.totalBytes)} in ${formatDuration(seconds)} (${formatBytes(Math.round(avg))}/s average) from ${i.sources} source${i.sources === 1 ? '' : 's'}`;
}

/**
 * Say when the connection to the broker drops and comes back (the download goes on in the peer
 * meanwhile): a line above the bar, so a `get` waiting through a broker restart is never silent.
 */
export function brokerNotes(nc: { status(): AsyncIterable<{ type: string; data: unknown }> }, ui: Ui, peer: string): void {
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') ui.note(`lost the broker ${String(s.data)}; reconnecting (the download goes on in peer ${peer})`);
      else if (s.type === 'reconnect') ui.note(`reconnected to the broker ${String(s.data)}`);
    }
  })().catch(() => undefined);
}
