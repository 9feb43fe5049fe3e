// The dashboard page: state pushed by the server (server-sent events), a selected download
// (linkable as #dl/PEER/ID) whose machine and trace are shown, and the two actions.
import { renderDownloads, renderFiles, renderPeers, renderTrace } from './views.js';
import { drawMachine, light } from './diagram.js';
import { markPath, stateIds } from './graph.js';

const $ = (id) => document.getElementById(id);
const ui = { state: undefined, graph: undefined, handles: undefined, selected: undefined, picked: false, trace: [], live: new Map() };

// the token (if any) now lives in an HttpOnly cookie: keep it out of the address bar and history
if (new URLSearchParams(location.search).has('token')) history.replaceState(null, '', location.pathname + location.hash);

async function action(path, body) {
  const msg = $('action-msg');
  msg.className = '';
  msg.textContent = '…';
  try {
    const res = await fetch(path, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-P2P-Dashboard': '1' },
      body: JSON.stringify(body),
    });
    const reply = await res.json().catch(() => ({ ok: false, message: `HTTP ${res.status}` }));
    if (!res.ok || !reply.ok) throw new Error(reply.message || `HTTP ${res.status}`);
    return reply;
  } catch (err) {
    msg.className = 'error';
    msg.textContent = err.message;
    throw err;
  }
}

async function onStart(ev) {
  ev.preventDefault();
  const peer = $('start-peer').value;
  const target = $('start-target').value.trim();
  if (!peer || !target) return;
  const reply = await action('/api/intent', { peer, target }).catch(() => undefined);
  if (!reply) return;
  $('action-msg').textContent = `${peer} ${reply.attached ? 'joined' : 'started'} ${reply.downloadId}`;
  location.hash = `#dl/${peer}/${reply.downloadId}`;
}

async function onCancel(peer, downloadId) {
  const reply = await action('/api/cancel', { peer, downloadId }).catch(() => undefined);
  if (reply) $('action-msg').textContent = `cancel sent to ${peer} for ${downloadId}`;
}

function fromHash() {
  const m = /^#dl\/([A-Za-z0-9_-]+)\/([A-Za-z0-9_-]+)$/.exec(location.hash);
  if (m) {
    ui.picked = true;
    void select(`${m[1]}/${m[2]}`);
    // a link (or the start form) leads to the machine; a click on a row stays where it is
    if (!ui.clicked) $('downloads').scrollIntoView();
  }
  ui.clicked = false;
}

async function select(key) {
  if (key === ui.selected) return;
  ui.selected = key;
  ui.trace = ui.live.get(key) ?? [];
  render();
  const [peer, id] = key.split('/');
  try {
    const res = await fetch(`/api/trace?peer=${encodeURIComponent(peer)}&id=${encodeURIComponent(id)}`, { credentials: 'same-origin' });
    const reply = await res.json();
    if (reply.ok && ui.selected === key) addTrace(key, reply.entries);
  } catch {
    // the live entries are all we have
  }
}

function addTrace(key, entries) {
  const list = ui.live.get(key) ?? [];
  const seen = new Set(list.map((e) => e.seq));
  for (const e of entries) if (!seen.has(e.seq)) list.push(e);
  list.sort((a, b) => a.seq - b.seq);
  ui.live.set(key, list);
  if (key === ui.selected) {
    ui.trace = list;
    render();
  }
}

function renderPeerChoice(state) {
  const select = $('start-peer');
  const ids = state.peers.filter((p) => p.online).map((p) => p.peerId);
  if ([...select.options].map((o) => o.value).join() !== ids.join()) {
    const keep = select.value;
    select.replaceChildren(...ids.map((id) => new Option(id, id)));
    if (ids.includes(keep)) select.value = keep;
  }
  const names = $('file-names');
  const wanted = state.files.map((f) => f.name);
  if ([...names.options].map((o) => o.value).join('\n') !== wanted.join('\n')) names.replaceChildren(...wanted.map((n) => new Option(n, n)));
}

function render() {
  const state = ui.state;
  if (!state) return;
  renderFiles(state);
  renderPeers(state);
  renderPeerChoice(state);
  // until one is picked, follow the newest running download (else the newest)
  if (!ui.picked && state.downloads.length) {
    const auto = state.downloads.find((d) => d.status === 'running') ?? state.downloads[0];
    const k = `${auto.peerId}/${auto.downloadId}`;
    if (k !== ui.selected) return void select(k);
  }
  renderDownloads(state, ui.selected, onCancel);
  const d = state.downloads.find((x) => `${x.peerId}/${x.downloadId}` === ui.selected);
  $('machine-for').textContent = d ? `${d.name ?? d.target} on ${d.peerId} (${d.downloadId})` : 'no download selected';
  renderTrace(ui.trace, d ? `${d.name ?? d.target} on ${d.peerId} · ${ui.trace.length} transitions` : '');
  if (ui.handles && ui.graph) {
    const marks = markPath(ui.graph, ui.trace);
    const current = d ? stateIds(d.state) : [];
    light(ui.handles, marks, current.length ? current : marks.current);
    document.getElementById('machine-diagram').dataset.current = current.join(' ');
  }
}

function connect() {
  const conn = $('conn');
  const source = new EventSource('/events');
  source.addEventListener('open', () => {
    conn.dataset.state = 'live';
    conn.textContent = 'live';
  });
  source.addEventListener('error', () => {
    conn.dataset.state = 'lost';
    conn.textContent = 'reconnecting…';
  });
  source.addEventListener('state', (ev) => {
    ui.state = JSON.parse(ev.data);
    render();
  });
  source.addEventListener('trace', (ev) => {
    const { peerId, entry } = JSON.parse(ev.data);
    addTrace(`${peerId}/${entry.downloadId}`, [entry]);
  });
}

async function main() {
  const res = await fetch('/api/machine', { credentials: 'same-origin' });
  const machine = await res.json();
  ui.graph = machine.graph;
  ui.handles = drawMachine($('diagram-box'), machine.layout);
  $('start-form').addEventListener('submit', (ev) => void onStart(ev));
  $('download-list').addEventListener('click', (ev) => {
    const tr = ev.target.closest('tr[data-download]');
    if (!tr || location.hash === `#dl/${tr.dataset.download}`) return;
    ui.clicked = true;
    location.hash = `#dl/${tr.dataset.download}`;
  });
  window.addEventListener('hashchange', fromHash);
  fromHash();
  connect();
}

void main();
