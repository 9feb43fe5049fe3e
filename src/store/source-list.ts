// The sources of one file in the tracker's registry, in announce order, each with its own claims.
// Most files have a few sources: those live in one flat array on the file's entry, [peer, claims,
// peer, claims, …], searched linearly (a handful of pointer compares), which costs far less to
// grow and to keep than a Map per file (bench/README.md, "the registry at full size"). A file with
// many sources gets an insertion-ordered Map instead, so that adding or removing one stays O(1)
// however popular the file is. Functions on the entry rather than an object of their own: one
// object fewer per file to allocate, trace and reach.
import type { SourceClaims } from '../protocol/messages.js';

/** Sources kept in the flat array at most; one more and they move to a Map. */
export const FLAT_SOURCES_MAX = 24;

/** Where a file's sources are: `flat` while few, `bySource` (and `flat` undefined) beyond. */
export interface SourceSlots<P> {
  flat: Array<P | SourceClaims> | undefined;
  bySource?: Map<P, SourceClaims>;
}

export function sourceCount<P>(s: SourceSlots<P>): number {
  return s.flat ? s.flat.length >> 1 : s.bySource!.size;
}

/** The claims `peer` made as a source of this file, or undefined if it is not one. */
export function claimsOf<P>(s: SourceSlots<P>, peer: P): SourceClaims | undefined {
  const flat = s.flat;
  if (!flat) return s.bySource!.get(peer);
  for (let i = 0; i < flat.length; i += 2) if (flat[i] === peer) return flat[i + 1] as SourceClaims;
  return undefined;
}

/** Add `peer` last; it must not be a source already (remove it first to move it to the end). */
export function appendSource<P>(s: SourceSlots<P>, peer: P, claims: SourceClaims): void {
  const flat = s.flat;
  if (!flat) {
    s.bySource!.set(peer, claims);
    return;
  }
  if (flat.length < FLAT_SOURCES_MAX * 2) {
    flat.push(peer, claims);
    return;
  }
  const map = new Map<P, SourceClaims>();
  for (let i = 0; i < flat.length; i += 2) map.set(flat[i] as P, flat[i + 1] as SourceClaims);
  map.set(peer, claims);
  s.bySource = map;
  s.flat = undefined;
}

/** Remove `peer` as a source; false if it was not one. */
export function removeSourceOf<P>(s: SourceSlots<P>, peer: P): boolean {
  const flat = s.flat;
  if (!flat) return s.bySource!.delete(peer);
  for (let i = 0; i < flat.length; i += 2) {
    if (flat[i] === peer) {
      flat.splice(i, 2);
      return true;
    }
  }
  return false;
}

/** The claims of the earliest source still listed. */
export function firstClaims<P>(s: SourceSlots<P>): SourceClaims | undefined {
  const flat = s.flat;
  if (!flat) return s.bySource!.size > 0 ? s.bySource!.values().next().value : undefined;
  return flat.length > 0 ? (flat[1] as SourceClaims) : undefined;
}

/** Every source in announce order, until `fn` returns false. */
export function eachSource<P>(s: SourceSlots<P>, fn: (peer: P, claims: SourceClaims) => boolean | void): void {
  const flat = s.flat;
  if (!flat) {
    for (const [peer, claims] of s.bySource!) if (fn(peer, claims) === false) return;
    return;
  }
  for (let i = 0; i < flat.length; i += 2) if (fn(flat[i] as P, flat[i + 1] as SourceClaims) === false) return;
}

/** Every source as [peer, claims] pairs, in announce order (a fresh array). */
export function sourcePairs<P>(s: SourceSlots<P>): Array<[P, SourceClaims]> {
  const out: Array<[P, SourceClaims]> = [];
  eachSource(s, (peer, claims) => void out.push([peer, claims]));
  return out;
}
