// A laid-out machine as a standalone SVG document (`p2p machine --svg`, `p2p trace --svg`), with
// an optional path: visited states shaded, current state lit, taken transitions drawn bold.
import type { PathMarks } from './graph.js';
import { START, type MachineLayout } from './layout.js';

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const n1 = (v: number) => Math.round(v * 10) / 10;

export function toSvg(layout: MachineLayout, marks?: PathMarks): string {
  const out: string[] = [];
  const w = layout.width;
  const h = layout.height;
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="system-ui, sans-serif" font-size="12">`);
  out.push('<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="#475569"/></marker>');
  out.push('<marker id="arrow-taken" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="#2563eb"/></marker></defs>');
  out.push(`<rect width="${w}" height="${h}" fill="#ffffff"/>`);
  const current = new Set(marks?.current ?? []);
  for (const n of layout.nodes) {
    if (n.kind === 'start') {
      out.push(`<circle cx="${n1(n.x + n.w / 2)}" cy="${n1(n.y + n.h / 2)}" r="${n1(n.w / 2)}" fill="#0f172a"/>`);
      continue;
    }
    const fill = current.has(n.id) ? '#fde047' : marks?.visited.has(n.id) ? '#dbeafe' : '#f8fafc';
    const stroke = current.has(n.id) ? '#a16207' : marks?.visited.has(n.id) ? '#2563eb' : '#64748b';
    out.push(`<g data-state="${esc(n.id)}">`);
    out.push(`<rect x="${n1(n.x)}" y="${n1(n.y)}" width="${n1(n.w)}" height="${n1(n.h)}" rx="10" fill="${fill}" stroke="${stroke}" stroke-width="${current.has(n.id) ? 3 : 1.5}"/>`);
    if (n.kind === 'final') out.push(`<rect x="${n1(n.x + 3)}" y="${n1(n.y + 3)}" width="${n1(n.w - 6)}" height="${n1(n.h - 6)}" rx="8" fill="none" stroke="${stroke}"/>`);
    out.push(`<text x="${n1(n.x + n.w / 2)}" y="${n1(n.y + (n.kind === 'compound' ? 16 : n.h / 2 + 4))}" text-anchor="middle" font-weight="600" fill="#0f172a">${esc(n.label)}</text>`);
    out.push('</g>');
  }
  for (const e of layout.edges) {
    if (e.points.length < 2) continue;
    const taken = e.ids.flatMap((id) => marks?.taken.get(id) ?? []).sort((a, b) => a - b);
    const steps = taken.length ? taken : undefined;
    const d = 'M' + e.points.map(([x, y]) => `${n1(x)},${n1(y)}`).join('L');
    const color = steps ? '#2563eb' : e.from.endsWith(START) ? '#0f172a' : '#94a3b8';
    out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="${steps ? 2.5 : 1.2}" marker-end="url(#${steps ? 'arrow-taken' : 'arrow'})"/>`);
    if (e.labelBox && e.label) {
      const text = e.label + (steps ? ` (${steps.join(',')})` : '');
      out.push(`<text x="${n1(e.labelBox.x + 3)}" y="${n1(e.labelBox.y + 11)}" font-size="11" fill="${steps ? '#1d4ed8' : '#475569'}">${esc(text)}</text>`);
    }
  }
  out.push('</svg>');
  return out.join('\n') + '\n';
}
