// What a download trusts of a file (issue 9, class 1): the verified manifest (it hashes to the
// fileId), never what a source announced. Each source's own claims (size, chunk size, chunk
// count, from the tracker's lookup) are checked against it; a source whose claims do not match
// is struck (not used for chunks) and named, so a liar who announced first cannot fail the download.
import { boundedList } from '../errors.js';
import type { FileMeta, Source, SourceClaims } from '../protocol/messages.js';
import type { Manifest } from '../store/manifest.js';

/** A source left out, and why (for the trace and the log). */
export interface StruckSource {
  peerId: string;
  reason: string;
}

export interface CheckedClaims {
  /** the file as the manifest says it is (the name: the most common among honest sources) */
  file: FileMeta;
  /** sources whose claims match the manifest, or that made none (older trackers) */
  kept: Source[];
  struck: StruckSource[];
}

/** Sources named in a trace detail at most (the rest are counted). */
const MAX_NAMED_STRUCK = 5;

/** Why `claims` do not describe `manifest`, or undefined when they do. */
export function claimsMismatch(claims: SourceClaims, manifest: Manifest): string | undefined {
  const wrong: string[] = [];
  if (claims.size !== manifest.size) wrong.push(`size ${claims.size} ≠ ${manifest.size}`);
  if (claims.chunkSize !== manifest.chunkSize) wrong.push(`chunkSize ${claims.chunkSize} ≠ ${manifest.chunkSize}`);
  if (claims.chunkCount !== manifest.hashes.length) wrong.push(`chunkCount ${claims.chunkCount} ≠ ${manifest.hashes.length}`);
  return wrong.length ? `claims ${wrong.join(', ')}` : undefined;
}

/** Check every source's claims against the verified manifest of `file.fileId`. Pure. */
export function checkClaims(manifest: Manifest, file: FileMeta, sources: readonly Source[]): CheckedClaims {
  const kept: Source[] = [];
  const struck: StruckSource[] = [];
  const names = new Map<string, number>();
  for (const source of sources) {
    const reason = source.claims ? claimsMismatch(source.claims, manifest) : undefined;
    if (reason) {
      struck.push({ peerId: source.peerId, reason });
      continue;
    }
    kept.push(source);
    if (source.claims) names.set(source.claims.name, (names.get(source.claims.name) ?? 0) + 1);
  }
  // the name is not in the manifest: keep the one asked for unless no honest source uses it
  let name = file.name;
  if (names.size > 0 && !names.has(name)) name = [...names.entries()].sort((a, b) => b[1] - a[1])[0]![0];
  return {
    file: { fileId: file.fileId, name, size: manifest.size, chunkSize: manifest.chunkSize, chunkCount: manifest.hashes.length },
    kept,
    struck,
  };
}

/** One line naming the struck sources, bounded (it goes into the trace). */
export function describeStruck(struck: readonly StruckSource[]): string {
  return `struck ${struck.length} source(s) whose claims do not match the manifest: ${boundedList(
    struck.map((s) => `${s.peerId} (${s.reason})`),
    MAX_NAMED_STRUCK,
  )}`;
}

/** The largest chunk count any source claims (sizes the manifest answer's deadline; capped by the client). */
export function largestClaimedChunks(file: FileMeta, sources: readonly Source[]): number {
  return sources.reduce((n, s) => Math.max(n, s.claims?.chunkCount ?? 0), file.chunkCount);
}
