// A state machine's definition as a plain graph (states, transitions, initial and final states),
// walked from the XState v5 machine itself so every diagram follows the code. Generic: no state
// name is known here. Transitions declared on the machine's root (e.g. `cancel`) apply in every
// state, so they are drawn from each top-level state that is not final.
import type { AnyStateMachine } from 'xstate';

/** One state; `id` is its dotted path below the root (`fetching`, `fetching.manifest`). */
export interface GraphNode {
  id: string;
  /** the state's own key */
  label: string;
  /** id of the compound state it lives in, undefined at the top level */
  parent?: string;
  kind: 'atomic' | 'compound' | 'final' | 'parallel' | 'history';
  /** ids of this compound state's initial child (undefined for atomic states) */
  initial?: string;
  /** names of the actors invoked while in this state */
  invokes: string[];
}

/** One transition that changes state (self-loops without a target are actions, left out). */
export interface GraphEdge {
  /** stable id: `from>to>event#n` */
  id: string;
  from: string;
  to: string;
  /** the event type as the machine (and the trace) spell it; '' for eventless (`always`) */
  event: string;
  guard?: string;
  /** short human label: `lookup done [hasSources]` */
  label: string;
}

export interface MachineGraph {
  id: string;
  /** the top-level initial state */
  initial: string;
  nodes: GraphNode[];
  edges: GraphEdge[];
}

/**
 * Human form of an event type, as traces name them: `xstate.done.actor.lookup` → `lookup.done`,
 * `xstate.error.actor.join` → `join.error`, a delayed transition → `after retryDelay`.
 */
export function eventLabel(event: string): string {
  if (event === '') return 'always';
  let m = /^xstate\.done\.actor\.(.+)$/.exec(event);
  if (m) return `${m[1]}.done`;
  m = /^xstate\.error\.actor\.(.+)$/.exec(event);
  if (m) return `${m[1]}.error`;
  m = /^xstate\.after\.([^.]+)\./.exec(event);
  if (m) return `after ${m[1]}`;
  m = /^xstate\.done\.state\.(.+)$/.exec(event);
  if (m) return `${m[1].split('.').pop()} finished`;
  return event;
}

interface StateNodeLike {
  id: string;
  key: string;
  path: string[];
  type: string;
  states: Record<string, StateNodeLike>;
  transitions: Map<string, TransitionLike[]>;
  always?: TransitionLike[];
  initial?: { target?: StateNodeLike[] };
  invoke?: Array<{ id?: string; src?: unknown }>;
}

interface TransitionLike {
  target?: StateNodeLike[];
  guard?: unknown;
  eventType: string;
}

function guardName(guard: unknown): string | undefined {
  if (guard === undefined || guard === null) return undefined;
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'object' && typeof (guard as { type?: unknown }).type === 'string') return (guard as { type: string }).type;
  if (typeof guard === 'function') return guard.name || 'guard';
  return 'guard';
}

const idOf = (n: StateNodeLike) => n.path.join('.');

/** Walk `machine.root` into a MachineGraph. */
export function machineGraph(machine: AnyStateMachine): MachineGraph {
  const root = machine.root as unknown as StateNodeLike;
  const nodes: GraphNode[] = [];
  const edges: GraphEdge[] = [];
  const counts = new Map<string, number>();
  const addEdge = (from: string, to: string, event: string, guard?: string) => {
    const key = `${from}>${to}>${event}`;
    const n = counts.get(key) ?? 0;
    counts.set(key, n + 1);
    const label = eventLabel(event) + (guard ? ` [${guard}]` : '');
    edges.push({ id: `${key}#${n}`, from, to, event, guard, label });
  };
  const topLevel = Object.values(root.states);
  const transitionsOf = (n: StateNodeLike): TransitionLike[] => [...[...n.transitions.values()].flat(), ...(n.always ?? [])];
  const walk = (n: StateNodeLike, parent?: string) => {
    const id = idOf(n);
    const children = Object.values(n.states ?? {});
    nodes.push({
      id,
      label: n.key,
      parent,
      kind: n.type === 'final' ? 'final' : (n.type as GraphNode['kind']),
      initial: n.initial?.target?.[0] ? idOf(n.initial.target[0]) : undefined,
      invokes: (n.invoke ?? []).map((i) => String(i.id ?? (typeof i.src === 'string' ? i.src : 'actor'))),
    });
    for (const t of transitionsOf(n)) for (const target of t.target ?? []) addEdge(id, idOf(target), t.eventType, guardName(t.guard));
    for (const c of children) walk(c, id);
  };
  for (const n of topLevel) walk(n);
  // the root's own transitions apply wherever the machine is: draw them from each live top-level state
  for (const t of transitionsOf(root)) {
    for (const target of t.target ?? []) {
      for (const n of topLevel) if (n.type !== 'final' && n !== target) addEdge(idOf(n), idOf(target), t.eventType, guardName(t.guard));
    }
  }
  const initial = root.initial?.target?.[0];
  return { id: root.id, initial: initial ? idOf(initial) : (topLevel[0] ? idOf(topLevel[0]) : ''), nodes, edges };
}

/** A trace state value as dotted leaf ids: `fetching` or `{"fetching":"chunks"}` → `fetching.chunks`. */
export function stateIds(value: string): string[] {
  if (!value.startsWith('{')) return value ? [value] : [];
  try {
    const out: string[] = [];
    const visit = (v: unknown, prefix: string) => {
      if (typeof v === 'string') out.push(prefix + v);
      else if (v && typeof v === 'object') for (const [k, sub] of Object.entries(v)) visit(sub, `${prefix}${k}.`);
    };
    visit(JSON.parse(value), '');
    return out;
  } catch {
    return [];
  }
}

/** One step of a download's path: a transition as recorded in its trace. */
export interface PathStep {
  from: string;
  to: string;
  event: string;
}

/** What a path lights on a graph: visited states, taken edges (with their step numbers), current states. */
export interface PathMarks {
  visited: Set<string>;
  taken: Map<string, number[]>;
  current: string[];
}

/** Match a recorded path against the graph's edges (by states, then by event when several match). */
export function markPath(graph: MachineGraph, steps: PathStep[]): PathMarks {
  const visited = new Set<string>();
  const taken = new Map<string, number[]>();
  const known = new Set(graph.nodes.map((n) => n.id));
  const withAncestors = (id: string) => {
    const parts = id.split('.');
    return parts.map((_, i) => parts.slice(0, i + 1).join('.')).filter((p) => known.has(p));
  };
  let current: string[] = [];
  let step = 0;
  for (const s of steps) {
    const to = stateIds(s.to);
    for (const id of to) for (const a of withAncestors(id)) visited.add(a);
    if (to.length) current = to.filter((id) => known.has(id));
    const from = stateIds(s.from);
    if (!from.length || s.from === s.to) continue;
    // a step is a transition between states of this graph (not the trace's own `init` entry)
    if (!from.some((f) => known.has(f.split('.')[0]!))) continue;
    step++;
    for (const f of from) {
      for (const t of to) {
        const fromIds = new Set(withAncestors(f));
        const toIds = new Set(withAncestors(t));
        const candidates = graph.edges.filter((e) => fromIds.has(e.from) && toIds.has(e.to));
        for (const edge of route(graph, fromIds, toIds, s.event, candidates)) {
          taken.set(edge.id, [...(taken.get(edge.id) ?? []), step]);
          visited.add(edge.to);
        }
      }
    }
  }
  return { visited, taken, current };
}

/**
 * The edges one recorded step took: the direct edge for its event, else that event's edge into
 * a state left at once by an eventless (`always`) edge to the target, else any direct edge.
 */
function route(graph: MachineGraph, fromIds: Set<string>, toIds: Set<string>, event: string, direct: GraphEdge[]): GraphEdge[] {
  const exact = direct.find((e) => sameEvent(e.event, event));
  if (exact) return [exact];
  for (const first of graph.edges.filter((e) => fromIds.has(e.from) && sameEvent(e.event, event))) {
    const second = graph.edges.find((e) => e.from === first.to && toIds.has(e.to) && e.event === '');
    if (second) return [first, second];
  }
  return direct.slice(0, 1);
}

/** A machine event type and the name a trace recorded for it (raw, or shortened like eventLabel). */
function sameEvent(machineEvent: string, traced: string): boolean {
  return machineEvent === traced || eventLabel(machineEvent) === traced;
}
