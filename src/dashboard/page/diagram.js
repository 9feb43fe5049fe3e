// The download machine on the page: the layout computed by the server from the machine's own
// definition (ELK), drawn as SVG with DOM calls; `light` marks the current state, the states
// visited and the transitions taken (with their step numbers) for the selected download.
const SVG = 'http://www.w3.org/2000/svg';

function el(name, attrs, parent) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (parent) parent.append(node);
  return node;
}

/** Draw `layout` into `box` once; returns the handles `light` needs. */
export function drawMachine(box, layout) {
  while (box.firstChild) box.firstChild.remove();
  const svg = el('svg', { viewBox: `0 0 ${layout.width} ${layout.height}`, role: 'img', 'aria-label': 'download state machine', id: 'machine-diagram' }, box);
  const defs = el('defs', {}, svg);
  for (const [id, colour] of [['arrow', '#64748b'], ['arrow-taken', '#2563eb']]) {
    const marker = el('marker', { id, viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' }, defs);
    el('path', { d: 'M0,0L10,5L0,10z', fill: colour }, marker);
  }
  const edges = new Map();
  for (const e of layout.edges) {
    if (e.points.length < 2) continue;
    const g = el('g', { class: 'edge' }, svg);
    g.dataset.edge = e.id;
    el('path', { d: 'M' + e.points.map(([x, y]) => `${x},${y}`).join('L'), 'marker-end': 'url(#arrow)' }, g);
    let text;
    if (e.labelBox && e.label) {
      text = el('text', { x: e.labelBox.x + 3, y: e.labelBox.y + 11 }, g);
      text.textContent = e.label;
    }
    edges.set(e.id, { g, e, text });
  }
  const nodes = new Map();
  for (const n of layout.nodes) {
    if (n.kind === 'start') {
      el('circle', { cx: n.x + n.w / 2, cy: n.y + n.h / 2, r: n.w / 2, fill: '#0f172a' }, svg);
      continue;
    }
    const g = el('g', { class: `node ${n.kind}` }, svg);
    g.dataset.state = n.id;
    el('rect', { x: n.x, y: n.y, width: n.w, height: n.h, rx: 10 }, g);
    if (n.kind === 'final') el('rect', { x: n.x + 3, y: n.y + 3, width: n.w - 6, height: n.h - 6, rx: 8, fill: 'none' }, g);
    const t = el('text', { x: n.x + n.w / 2, y: n.kind === 'compound' ? n.y + 16 : n.y + n.h / 2 + 4, 'text-anchor': 'middle' }, g);
    t.textContent = n.label;
    const title = el('title', {}, g);
    title.textContent = n.invokes.length ? `${n.id} (runs ${n.invokes.join(', ')})` : n.id;
    nodes.set(n.id, g);
  }
  return { nodes, edges };
}

/** Mark `marks` (from graph.js markPath) and the `current` state ids on a drawn machine. */
export function light(handles, marks, current) {
  const cur = new Set(current);
  for (const [id, g] of handles.nodes) {
    g.classList.toggle('current', cur.has(id));
    g.classList.toggle('visited', !cur.has(id) && marks.visited.has(id));
  }
  for (const { g, e, text } of handles.edges.values()) {
    const steps = e.ids.flatMap((id) => marks.taken.get(id) ?? []).sort((a, b) => a - b);
    g.classList.toggle('taken', steps.length > 0);
    g.querySelector('path').setAttribute('marker-end', steps.length ? 'url(#arrow-taken)' : 'url(#arrow)');
    if (text) text.textContent = e.label + (steps.length ? ` (${steps.length > 6 ? steps.slice(0, 6).join(',') + '…' : steps.join(',')})` : '');
  }
}
