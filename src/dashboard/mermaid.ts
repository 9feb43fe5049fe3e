// A MachineGraph as a mermaid `stateDiagram-v2` (the README's diagram and `p2p machine --mermaid`),
// optionally with a download's path: visited states shaded, the current one lit, and each taken
// transition labelled with its step numbers.
import type { MachineGraph, PathMarks } from './graph.js';

const safeId = (id: string) => id.replace(/[^A-Za-z0-9_]/g, '_');
/** mermaid label text: no characters it treats as syntax */
const safeText = (s: string) => s.replace(/[:;#{}"<>\n\r]/g, ' ').trim();

export function toMermaid(graph: MachineGraph, marks?: PathMarks): string {
  const lines = ['stateDiagram-v2'];
  const byParent = new Map<string | undefined, typeof graph.nodes>();
  for (const n of graph.nodes) byParent.set(n.parent, [...(byParent.get(n.parent) ?? []), n]);
  const emit = (parent: string | undefined, indent: string) => {
    const initial = parent === undefined ? graph.initial : graph.nodes.find((n) => n.id === parent)?.initial;
    if (initial) lines.push(`${indent}[*] --> ${safeId(initial)}`);
    for (const n of byParent.get(parent) ?? []) {
      const children = byParent.get(n.id);
      if (children?.length) {
        lines.push(`${indent}state "${safeText(n.label)}" as ${safeId(n.id)} {`);
        emit(n.id, indent + '  ');
        lines.push(`${indent}}`);
      } else if (safeId(n.id) !== n.label) lines.push(`${indent}state "${safeText(n.label)}" as ${safeId(n.id)}`);
    }
  };
  emit(undefined, '  ');
  for (const e of graph.edges) {
    const steps = marks?.taken.get(e.id);
    const label = safeText(e.label) + (steps ? ` (step ${steps.join(', ')})` : '');
    lines.push(`  ${safeId(e.from)} --> ${safeId(e.to)}: ${label}`);
  }
  for (const n of graph.nodes) if (n.kind === 'final' && n.parent === undefined) lines.push(`  ${safeId(n.id)} --> [*]`);
  if (marks) {
    const current = new Set(marks.current);
    const visited = [...marks.visited].filter((id) => !current.has(id));
    lines.push('  classDef visited fill:#dbeafe,stroke:#2563eb,stroke-width:2px');
    lines.push('  classDef current fill:#fde047,stroke:#a16207,stroke-width:3px');
    if (visited.length) lines.push(`  class ${visited.map(safeId).join(',')} visited`);
    if (current.size) lines.push(`  class ${[...current].map(safeId).join(',')} current`);
  }
  return lines.join('\n') + '\n';
}
