// Lays a MachineGraph out offline with ELK's layered algorithm (elkjs, pure JS, no browser):
// boxes for states, orthogonal routes for transitions, a place for every label. The result is
// plain JSON, drawn by the page (DOM) and by `p2p machine --svg` (svg.ts) alike.
import elkModule from 'elkjs/lib/elk.bundled.js';
import type { ElkExtendedEdge, ElkNode } from 'elkjs/lib/elk-api.js';
import type { GraphNode, MachineGraph } from './graph.js';

export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface LaidNode extends Box {
  id: string;
  label: string;
  kind: GraphNode['kind'] | 'start';
  parent?: string;
  invokes: string[];
}

export interface LaidEdge {
  id: string;
  /** the graph edges (transitions) this drawn edge stands for */
  ids: string[];
  from: string;
  to: string;
  event: string;
  label: string;
  points: Array<[number, number]>;
  labelBox?: Box;
}

export interface MachineLayout {
  id: string;
  width: number;
  height: number;
  nodes: LaidNode[];
  edges: LaidEdge[];
}

/** Id of the start pseudo-state (the black dot) and of its edge. */
export const START = '[*]';

// a CommonJS module: under NodeNext its default import is the constructor itself
const ELK = elkModule as unknown as new () => { layout(graph: ElkNode): Promise<ElkNode> };

const CHAR_W = 7;
const LABEL_CHAR_W = 6.2;
const NODE_H = 38;
const PAD = 12;

/** Lay `graph` out (left to right). */
export async function layoutMachine(graph: MachineGraph): Promise<MachineLayout> {
  const elk = new ELK();
  const elkNodes = new Map<string, ElkNode>();
  const rootChildren: ElkNode[] = [{ id: START, width: 16, height: 16 }];
  for (const n of graph.nodes) {
    const node: ElkNode = { id: n.id, width: Math.max(96, 28 + n.label.length * CHAR_W), height: NODE_H, children: [] };
    if (graph.nodes.some((c) => c.parent === n.id)) {
      node.layoutOptions = { 'elk.padding': '[top=28,left=12,bottom=12,right=12]' };
      node.children!.push({ id: `${n.id}${START}`, width: 12, height: 12 });
    }
    elkNodes.set(n.id, node);
  }
  for (const n of graph.nodes) (n.parent ? elkNodes.get(n.parent)!.children! : rootChildren).push(elkNodes.get(n.id)!);
  // parallel transitions (same states, different events) share one drawn edge and label
  const groups = new Map<string, MachineGraph['edges']>();
  for (const e of graph.edges) groups.set(`${e.from}>${e.to}`, [...(groups.get(`${e.from}>${e.to}`) ?? []), e]);
  const defs = new Map<string, { ids: string[]; event: string; label: string }>();
  const edges: ElkExtendedEdge[] = [...groups.values()].map((group) => {
    const label = group.map((e) => e.label).join(' · ');
    const id = group[0]!.id;
    defs.set(id, { ids: group.map((e) => e.id), event: group.map((e) => e.event).join(' '), label });
    return { id, sources: [group[0]!.from], targets: [group[0]!.to], labels: [{ text: label, width: label.length * LABEL_CHAR_W + 6, height: 14 }] };
  });
  edges.push({ id: `${START}>${graph.initial}`, sources: [START], targets: [graph.initial] });
  for (const n of graph.nodes) {
    if (n.initial) edges.push({ id: `${n.id}${START}>${n.initial}`, sources: [`${n.id}${START}`], targets: [n.initial] });
  }
  const laid = await elk.layout({
    id: 'root',
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': 'RIGHT',
      'elk.hierarchyHandling': 'INCLUDE_CHILDREN',
      // every edge point in root coordinates, whatever node ELK files the edge under
      'elk.json.edgeCoords': 'ROOT',
      'elk.edgeRouting': 'ORTHOGONAL',
      'elk.layered.spacing.nodeNodeBetweenLayers': '56',
      'elk.spacing.nodeNode': '28',
      'elk.spacing.edgeLabel': '4',
      'elk.spacing.edgeEdge': '12',
      'elk.edgeLabels.inline': 'false',
      'elk.layered.nodePlacement.strategy': 'BRANDES_KOEPF',
      'elk.padding': `[top=${PAD},left=${PAD},bottom=${PAD},right=${PAD}]`,
    },
    children: rootChildren,
    edges,
  });

  const nodes: LaidNode[] = [];
  const visit = (n: ElkNode, ox: number, oy: number, parent?: string) => {
    const x = ox + (n.x ?? 0);
    const y = oy + (n.y ?? 0);
    const def = graph.nodes.find((g) => g.id === n.id);
    const isStart = n.id.endsWith(START);
    nodes.push({
      id: n.id,
      label: def?.label ?? '',
      kind: isStart ? 'start' : (def?.kind ?? 'atomic'),
      parent,
      invokes: def?.invokes ?? [],
      x,
      y,
      w: n.width ?? 0,
      h: n.height ?? 0,
    });
    for (const c of n.children ?? []) visit(c, x, y, n.id);
  };
  for (const c of laid.children ?? []) visit(c, 0, 0);

  const laidEdges: LaidEdge[] = [];
  const [ox, oy] = [0, 0];
  const collect = (container: ElkNode) => {
    for (const e of (container.edges ?? []) as ElkExtendedEdge[]) {
      const def = defs.get(e.id);
      const points: Array<[number, number]> = [];
      for (const s of e.sections ?? []) {
        points.push([ox + s.startPoint.x, oy + s.startPoint.y]);
        for (const b of s.bendPoints ?? []) points.push([ox + b.x, oy + b.y]);
        points.push([ox + s.endPoint.x, oy + s.endPoint.y]);
      }
      const l = e.labels?.[0];
      laidEdges.push({
        id: e.id,
        ids: def?.ids ?? [],
        from: e.sources[0]!,
        to: e.targets[0]!,
        event: def?.event ?? '',
        label: def?.label ?? '',
        points,
        labelBox: l && def ? { x: ox + (l.x ?? 0), y: oy + (l.y ?? 0), w: l.width ?? 0, h: l.height ?? 0 } : undefined,
      });
    }
    for (const c of container.children ?? []) collect(c);
  };
  collect(laid);
  return { id: graph.id, width: Math.ceil(laid.width ?? 0), height: Math.ceil(laid.height ?? 0), nodes, edges: laidEdges };
}
