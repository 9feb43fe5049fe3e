// Views of a download, derived from the machine's snapshot by pure functions: the DownloadInfo
// that status replies, progress events and the history file carry (wire names, src/protocol/
// messages.ts), and the detail a trace entry shows. Nothing else keeps a copy of a download's state.
import type { DownloadInfo } from '../src/protocol/messages.js';
import type { DownloadContext } from './download-types.js';

/** What these views need of a snapshot (an xstate snapshot of downloadMachine has it). */
export interface DownloadSnapshot {
  value: unknown;
  /** 'done' once the machine reached a final state */
  status: string;
  context: DownloadContext;
}

/** The state's name as traces and `p2p status` show it. */
export function stateOf(snapshot: DownloadSnapshot): string {
  return typeof snapshot.value === 'string' ? snapshot.value : JSON.stringify(snapshot.value);
}

/** Whether the machine has finished (done, already present, failed or cancelled). */
export function isFinal(snapshot: DownloadSnapshot): boolean {
  return snapshot.status === 'done';
}

/**
 * The download as the wire shows it. `finishedAt` is the one field the machine cannot know (it
 * reads no clock): the caller adds it. `attempts` is the older wire name of `retries`.
 */
export function toDownloadInfo(snapshot: DownloadSnapshot): Omit<DownloadInfo, 'finishedAt'> {
  const ctx = snapshot.context;
  const state = stateOf(snapshot);
  const final = isFinal(snapshot);
  return {
    downloadId: ctx.downloadId,
    target: ctx.target,
    ...(ctx.file ? { fileId: ctx.file.fileId, name: ctx.file.name } : {}),
    state,
    status: final ? ctx.status : 'running',
    verifiedChunks: ctx.verifiedChunks,
    totalChunks: ctx.file?.chunkCount ?? ctx.totalChunks,
    bytes: ctx.bytes,
    totalBytes: ctx.file?.size ?? 0,
    rateBps: final ? 0 : ctx.rateBps,
    sources: state === 'fetching' && ctx.sourcesActive > 0 ? ctx.sourcesActive : ctx.sources.length,
    retries: ctx.retries,
    attempts: ctx.retries,
    ...(ctx.path ? { path: ctx.path } : {}),
    ...(ctx.error ? { error: ctx.error } : {}),
    startedAt: ctx.startedAt,
  };
}

/** Why this state, for a trace entry: the retry reason, the error, where the file went, who was struck. */
export function traceDetail(snapshot: DownloadSnapshot): string | undefined {
  const ctx = snapshot.context;
  const to = stateOf(snapshot);
  if (to === 'retrying' && ctx.lastReason) return ctx.lastReason.slice(0, 1024);
  if ((to === 'failed' || to === 'cancelled') && ctx.error) return `${ctx.error.code}: ${ctx.error.message}`.slice(0, 1024);
  if (to === 'done' && ctx.path) return ctx.path.slice(0, 1024);
  // sources whose claims did not match the verified manifest are named while they are left out
  if (to === 'fetching' && ctx.struck) return ctx.struck.slice(0, 1024);
  return undefined;
}
