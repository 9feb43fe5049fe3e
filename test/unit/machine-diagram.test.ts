// The diagrams come from the machine itself: every state and transition of downloadMachine is in
// the graph, a recorded path is marked on it, and the README's diagram is exactly what
// `p2p machine --mermaid` prints (run `npm run docs:diagram` after changing the machine).
import test from 'ava';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { downloadMachine } from '../../machines/download.js';
import { eventLabel, machineGraph, markPath, stateIds } from '../../src/dashboard/graph.js';
import { toMermaid } from '../../src/dashboard/mermaid.js';
import { layoutMachine } from '../../src/dashboard/layout.js';
import { toSvg } from '../../src/dashboard/svg.js';
import { currentBlock, diagramBlock } from '../../scripts/readme-diagram.js';

const graph = machineGraph(downloadMachine);

test('every state of the machine is a node, with its kind', (t) => {
  const keys = Object.keys(downloadMachine.root.states);
  t.deepEqual(graph.nodes.filter((n) => !n.parent).map((n) => n.id).sort(), keys.sort());
  for (const key of keys) t.is(graph.nodes.find((n) => n.id === key)!.kind === 'final', downloadMachine.root.states[key]!.type === 'final');
  t.is(graph.initial, (downloadMachine.root.initial.target[0]!).key);
});

test('every targeted transition of every state is an edge; root transitions start from each live state', (t) => {
  for (const [key, node] of Object.entries(downloadMachine.root.states)) {
    for (const [event, list] of node.transitions) {
      for (const tr of list) for (const target of tr.target ?? []) t.true(graph.edges.some((e) => e.from === key && e.to === target.key && e.event === event), `${key} --${event}--> ${target.key}`);
    }
    for (const tr of node.always ?? []) for (const target of tr.target ?? []) t.true(graph.edges.some((e) => e.from === key && e.to === target.key && e.event === ''));
  }
  for (const [event, list] of downloadMachine.root.transitions) {
    for (const tr of list) {
      for (const target of tr.target ?? []) {
        for (const [key, node] of Object.entries(downloadMachine.root.states)) {
          if (node.type !== 'final' && key !== target.key) t.true(graph.edges.some((e) => e.from === key && e.to === target.key && e.event === event));
        }
      }
    }
  }
  // edges only join known states
  const ids = new Set(graph.nodes.map((n) => n.id));
  for (const e of graph.edges) t.true(ids.has(e.from) && ids.has(e.to));
});

test('event labels are short and human', (t) => {
  t.is(eventLabel('xstate.done.actor.lookup'), 'lookup.done');
  t.is(eventLabel('xstate.error.actor.join'), 'join.error');
  t.is(eventLabel('xstate.after.retryDelay.download.retrying'), 'after retryDelay');
  t.is(eventLabel(''), 'always');
  t.is(eventLabel('fetch.complete'), 'fetch.complete');
  t.deepEqual(stateIds('{"fetching":"chunks"}'), ['fetching.chunks']);
  t.deepEqual(stateIds('lookup'), ['lookup']);
});

test('a recorded path marks visited states, taken edges in order and the current state', (t) => {
  const edgeIds = new Set(graph.edges.map((e) => e.id));
  const first = graph.edges.find((e) => e.from === graph.initial && graph.edges.some((n) => n.from === e.to && n.to !== e.from))!;
  const second = graph.edges.find((e) => e.from === first.to && e.to !== first.from)!;
  const marks = markPath(graph, [
    { from: '', to: graph.initial, event: 'xstate.init' },
    { from: first.from, to: first.to, event: first.event },
    { from: first.to, to: first.to, event: 'fetch.progress' },
    { from: second.from, to: second.to, event: second.event },
  ]);
  t.deepEqual(marks.current, [second.to]);
  t.true(marks.visited.has(graph.initial) && marks.visited.has(first.to) && marks.visited.has(second.to));
  t.deepEqual(marks.taken.get(first.id), [1]);
  t.deepEqual(marks.taken.get(second.id), [2]);
  // traces may name events the short way (lookup.done): the same edge is found
  const short = markPath(graph, [{ from: first.from, to: first.to, event: eventLabel(first.event) }]);
  t.deepEqual(short.taken.get(first.id), [1]);
  for (const id of marks.taken.keys()) t.true(edgeIds.has(id));
  const mermaid = toMermaid(graph, marks);
  t.regex(mermaid, /\(step 1\)/);
  t.regex(mermaid, new RegExp(`class ${second.to} current`));
});

test('mermaid lists every state and transition; the SVG lays every state out', async (t) => {
  const mermaid = toMermaid(graph);
  t.true(mermaid.startsWith('stateDiagram-v2\n'));
  for (const e of graph.edges) t.true(mermaid.includes(`${e.from} --> ${e.to}: ${e.label}`), e.label);
  const layout = await layoutMachine(graph);
  for (const n of graph.nodes) {
    const laid = layout.nodes.find((l) => l.id === n.id)!;
    t.true(laid.w > 0 && laid.h > 0 && laid.x >= 0 && laid.x + laid.w <= layout.width);
  }
  t.is(layout.edges.flatMap((e) => e.ids).sort().join(), graph.edges.map((e) => e.id).sort().join());
  for (const e of layout.edges) t.true(e.points.length >= 2, e.id);
  const svg = toSvg(layout);
  t.regex(svg, /^<svg /);
  for (const n of graph.nodes) t.true(svg.includes(`>${n.label}</text>`));
});

test('the README shows the diagram generated from the machine (npm run docs:diagram)', async (t) => {
  const readme = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');
  const block = currentBlock(readme);
  t.truthy(block, 'README.md lost its machine-diagram markers');
  t.is(block, await diagramBlock(), 'README.md and machines/download.ts disagree: run `npm run docs:diagram`');
});

test('any machine works: new states, nested states and their initial children are drawn', async (t) => {
  const { createMachine } = await import('xstate');
  const machine = createMachine({
    id: 'demo',
    initial: 'preparing',
    on: { stop: '.stopped' },
    states: {
      preparing: { on: { ready: 'working' } },
      working: {
        initial: 'manifest',
        states: { manifest: { on: { got: 'chunks' } }, chunks: { on: { all: '#demo.finished' } } },
        on: { broke: 'preparing' },
      },
      finished: { type: 'final' },
      stopped: { type: 'final' },
    },
  });
  const g = machineGraph(machine);
  t.deepEqual(g.nodes.map((n) => n.id).sort(), ['finished', 'preparing', 'stopped', 'working', 'working.chunks', 'working.manifest']);
  t.is(g.nodes.find((n) => n.id === 'working')!.initial, 'working.manifest');
  t.true(g.edges.some((e) => e.from === 'working.chunks' && e.to === 'finished' && e.event === 'all'));
  t.true(g.edges.some((e) => e.from === 'working' && e.to === 'stopped' && e.event === 'stop'));
  const marks = markPath(g, [
    { from: 'preparing', to: '{"working":"manifest"}', event: 'ready' },
    { from: '{"working":"manifest"}', to: '{"working":"chunks"}', event: 'got' },
  ]);
  t.deepEqual(marks.current, ['working.chunks']);
  t.true(marks.visited.has('working') && marks.visited.has('working.manifest'));
  t.is(marks.taken.size, 2);
  const mermaid = toMermaid(g, marks);
  t.regex(mermaid, /state "working" as working \{\n {4}\[\*\] --> working_manifest/);
  t.regex(mermaid, /working_chunks --> finished: all/);
  const layout = await layoutMachine(g);
  const outer = layout.nodes.find((n) => n.id === 'working')!;
  const inner = layout.nodes.find((n) => n.id === 'working.chunks')!;
  t.true(inner.x >= outer.x && inner.x + inner.w <= outer.x + outer.w && inner.y >= outer.y && inner.y + inner.h <= outer.y + outer.h, 'children inside their parent');
  for (const e of layout.edges) t.true(e.points.length >= 2, e.id);
});
