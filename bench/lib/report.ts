// What a case reports, how it is judged against its target, the printed table and
// bench/results/latest.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { round } from './stats.js';

/** A secondary target on the same value (e.g. download-1to1 against tcp-limit too). */
export interface Check {
  baselineOf: string;
  baseline: number | null;
  ratio: number | null;
  target: number;
  direction: Direction;
  pass: boolean | null;
}

/** 'atLeast': pass when the ratio (or value, without a baseline) ≥ target; 'atMost': ≤. */
export type Direction = 'atLeast' | 'atMost';

/** One row of the report. `value` and `baseline` are medians over the runs. */
export interface CaseResult {
  name: string;
  value: number | null;
  unit: string;
  baseline: number | null;
  /** the case or measurement the baseline comes from */
  baselineOf?: string;
  ratio: number | null;
  target: number | null;
  direction?: Direction;
  pass: boolean | null;
  /** the value of every run */
  runs?: number[];
  checks?: Check[];
  detail?: Record<string, unknown>;
  note?: string;
  /** why the row has no value */
  skipped?: string;
}

/** pass/fail of `x` against `target` in `direction`; null when either is unknown. */
export function judge(x: number | null, target: number | null, direction: Direction): boolean | null {
  if (x === null || target === null || !Number.isFinite(x)) return null;
  return direction === 'atLeast' ? x >= target : x <= target;
}

/** ratio = value / baseline, null when either is missing. */
export function ratioOf(value: number | null, baseline: number | null): number | null {
  if (value === null || baseline === null || !Number.isFinite(value) || !Number.isFinite(baseline) || baseline === 0) return null;
  return value / baseline;
}

/** A row for a case that could not run. */
export function skippedRow(name: string, unit: string, reason: string, target: number | null = null, direction?: Direction): CaseResult {
  return { name, value: null, unit, baseline: null, ratio: null, target, direction, pass: null, skipped: reason };
}

function fmt(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '-';
  if (Math.abs(n) >= 100) return n.toFixed(0);
  if (Math.abs(n) >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

function targetText(r: { target: number | null; direction?: Direction }): string {
  if (r.target === null) return '-';
  return `${r.direction === 'atMost' ? '≤' : '≥'} ${r.target}`;
}

function passText(p: boolean | null): string {
  return p === null ? '-' : p ? 'PASS' : 'FAIL';
}

/** The table printed at the end of a run. */
export function formatTable(rows: CaseResult[]): string {
  const header = ['case', 'value', 'unit', 'baseline', 'baseline of', 'ratio', 'target', 'pass', 'note'];
  const body: string[][] = [];
  for (const r of rows) {
    const note = r.skipped ? `skipped: ${r.skipped}` : (r.note ?? '');
    body.push([r.name, fmt(r.value), r.unit, fmt(r.baseline), r.baselineOf ?? '-', fmt(r.ratio), targetText(r), passText(r.pass), note]);
    for (const c of r.checks ?? []) {
      body.push(['  └ also', '', '', fmt(c.baseline), c.baselineOf, fmt(c.ratio), targetText(c), passText(c.pass), '']);
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => (i === header.length - 1 ? 0 : row[i]!.length))));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

/** Rounded copy for JSON. */
function rounded(r: CaseResult): CaseResult {
  return {
    ...r,
    value: round(r.value),
    baseline: round(r.baseline),
    ratio: round(r.ratio),
    runs: r.runs?.map((v) => round(v) ?? NaN),
    checks: r.checks?.map((c) => ({ ...c, baseline: round(c.baseline), ratio: round(c.ratio) })),
  };
}

/** Write `{ machine, cases }` to `file` (creating its folder). */
export function writeResults(file: string, machine: Record<string, unknown>, rows: CaseResult[]): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify({ machine, cases: rows.map(rounded) }, null, 2) + '\n');
}
