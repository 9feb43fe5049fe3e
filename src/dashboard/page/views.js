// The page's views, updated in place from the server's state. Everything that came from the
// network (file names, peer ids, errors) is set with textContent: never parsed as HTML.
import { decodeCounts, drawAvailability, drawRates, formatBytes, formatRate } from './charts.js';

const SVG = 'http://www.w3.org/2000/svg';

/** `document.createElement` with a class and optional text. */
export function h(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = String(text);
  return node;
}

/** Keep one row per key in `tbody`, in `items` order: rows are reused, so clicks survive updates. */
function syncRows(tbody, items, key, create, update) {
  const existing = new Map([...tbody.children].map((tr) => [tr.dataset.key, tr]));
  let prev = null;
  for (const item of items) {
    const k = key(item);
    let tr = existing.get(k);
    if (!tr) {
      tr = create(item);
      tr.dataset.key = k;
    }
    existing.delete(k);
    update(tr, item);
    const want = prev ? prev.nextSibling : tbody.firstChild;
    if (want !== tr) tbody.insertBefore(tr, want);
    prev = tr;
  }
  for (const tr of existing.values()) tr.remove();
}

function cells(tr, n) {
  while (tr.children.length < n) tr.append(h('td'));
  return [...tr.children];
}

export function renderFiles(state) {
  const tbody = document.querySelector('#files tbody');
  document.getElementById('files-empty').hidden = state.files.length > 0;
  document.getElementById('swarm-summary').textContent = `${state.files.length} file${state.files.length === 1 ? '' : 's'}`;
  syncRows(
    tbody,
    state.files,
    (f) => f.fileId,
    (f) => {
      const tr = h('tr');
      tr.dataset.file = f.fileId;
      const [name, , , , avail] = cells(tr, 5);
      name.className = 'name';
      name.append(h('span', 'file-name'), h('span', 'sub'));
      avail.className = 'availability';
      avail.append(h('canvas'), h('div', 'stats'), h('div', 'holders'));
      return tr;
    },
    (tr, f) => {
      const [name, size, chunks, sources, avail] = cells(tr, 5);
      tr.dataset.name = f.name;
      name.querySelector('.file-name').textContent = f.name;
      name.querySelector('.sub').textContent = f.fileId.slice(0, 16) + '…';
      size.className = 'num';
      size.textContent = formatBytes(f.size);
      chunks.className = 'num';
      chunks.textContent = `${f.chunkCount} × ${formatBytes(f.chunkSize)}`;
      sources.className = 'num';
      sources.textContent = String(f.sources);
      const counts = decodeCounts(f.counts);
      const s = drawAvailability(avail.querySelector('canvas'), counts);
      avail.querySelector('.stats').textContent = `${s.available}/${counts.length} chunks available · ${s.min}–${s.max} copies`;
      avail.querySelector('.holders').textContent = f.holders.map((x) => `${x.complete ? '●' : '◐'} ${x.peerId}${x.complete ? '' : ` ${x.chunks}/${f.chunkCount}`}`).join('  ');
    },
  );
}

export function renderPeers(state) {
  const box = document.getElementById('peer-list');
  const online = state.peers.filter((p) => p.online).length;
  document.getElementById('peers-summary').textContent = `${online} online${state.peers.length > online ? `, ${state.peers.length - online} silent` : ''}`;
  const existing = new Map([...box.children].map((c) => [c.dataset.peer, c]));
  for (const p of state.peers) {
    let card = existing.get(p.peerId);
    if (!card) {
      card = h('div', 'card');
      card.dataset.peer = p.peerId;
      const title = h('h3');
      title.append(h('span', 'peer-id'), h('span', 'endpoint'));
      const plot = document.createElementNS(SVG, 'svg');
      plot.setAttribute('class', 'rates');
      card.append(title, h('div', 'facts'), h('div', 'running'), plot, h('div', 'files'));
      box.append(card);
    }
    existing.delete(p.peerId);
    card.classList.toggle('offline', !p.online);
    card.querySelector('.peer-id').textContent = p.peerId;
    card.querySelector('.endpoint').textContent = p.endpoint + (p.online ? '' : ' · silent');
    const last = p.rates[p.rates.length - 1] ?? [0, 0, 0];
    card.querySelector('.facts').textContent = `${p.fileCount} file${p.fileCount === 1 ? '' : 's'} · ${p.running} download${p.running === 1 ? '' : 's'} running · ↑ ${formatRate(last[1])} ↓ ${formatRate(last[2])} · served ${formatBytes(p.served.bytes)}`;
    const mine = state.downloads.filter((d) => d.peerId === p.peerId && d.status === 'running');
    card.querySelector('.running').textContent = mine
      .map((d) => `↓ ${d.name ?? d.target} ${d.totalChunks ? Math.floor((100 * d.verifiedChunks) / d.totalChunks) : 0}% (${d.state})`)
      .join(' · ');
    drawRates(card.querySelector('svg.rates'), p.rates);
    card.querySelector('.files').textContent = p.files.length ? p.files.map((f) => f.name).join(' · ') : 'no files';
  }
  for (const c of existing.values()) c.remove();
}

const key = (d) => `${d.peerId}/${d.downloadId}`;

export function renderDownloads(state, selected, onCancel) {
  const tbody = document.querySelector('#download-list tbody');
  document.getElementById('downloads-empty').hidden = state.downloads.length > 0;
  const running = state.downloads.filter((d) => d.status === 'running').length;
  document.getElementById('downloads-summary').textContent = `${running} running, ${state.downloads.length} in all`;
  syncRows(
    tbody,
    state.downloads,
    key,
    (d) => {
      const tr = h('tr');
      tr.dataset.download = key(d);
      const c = cells(tr, 9);
      c[1].className = 'name';
      const bar = h('span', 'bar');
      bar.append(h('span'));
      c[3].append(bar, h('span', 'pct'));
      for (const i of [4, 5, 6]) c[i].className = 'num';
      const cancel = h('button', 'cancel', 'Cancel');
      cancel.type = 'button';
      cancel.addEventListener('click', (ev) => {
        ev.stopPropagation();
        onCancel(tr.dataset.peerId, tr.dataset.downloadId);
      });
      c[8].append(cancel);
      return tr;
    },
    (tr, d) => {
      const c = cells(tr, 9);
      Object.assign(tr.dataset, { peerId: d.peerId, downloadId: d.downloadId, state: d.state, status: d.status });
      tr.classList.toggle('selected', key(d) === selected);
      c[0].textContent = d.peerId;
      c[1].textContent = d.name ?? d.target;
      const st = c[2].firstChild ?? c[2].appendChild(h('span'));
      st.className = `status ${d.status}`;
      st.textContent = d.status === 'running' ? d.state : d.status === d.state ? d.status : `${d.status} (${d.state})`;
      if (d.error) st.title = `${d.error.code}: ${d.error.message}`;
      const pct = d.totalChunks ? Math.floor((100 * d.verifiedChunks) / d.totalChunks) : d.status === 'done' ? 100 : 0;
      c[3].querySelector('.bar > span').style.width = `${pct}%`;
      c[3].querySelector('.pct').textContent = `${pct}% · ${d.verifiedChunks}/${d.totalChunks} chunks · ${formatBytes(d.bytes)}`;
      c[4].textContent = formatRate(d.rateBps);
      c[5].textContent = String(d.sources);
      c[6].textContent = String(d.attempts);
      c[7].textContent = new Date(d.startedAt).toLocaleTimeString();
      c[8].querySelector('button').hidden = d.status !== 'running';
    },
  );
}

export function renderTrace(entries, label) {
  const tbody = document.querySelector('#trace-table tbody');
  document.getElementById('trace-empty').hidden = entries.length > 0;
  document.getElementById('trace-for').textContent = label;
  syncRows(
    tbody,
    entries,
    (e) => String(e.seq),
    () => h('tr'),
    (tr, e) => {
      const c = cells(tr, 9);
      tr.classList.toggle('final', e.final);
      c[0].textContent = new Date(e.ts).toISOString().slice(11, 23);
      c[1].textContent = String(e.seq);
      c[2].textContent = e.from === e.to ? e.to : `${e.from || '∅'} → ${e.to}`;
      c[3].textContent = e.event;
      c[4].textContent = `${e.verifiedChunks}/${e.totalChunks}`;
      c[5].textContent = formatBytes(e.bytes);
      c[6].textContent = String(e.sources);
      c[7].textContent = String(e.attempts);
      c[8].textContent = e.detail ?? '';
      c[8].className = 'detail';
      for (const i of [1, 4, 5, 6, 7]) c[i].className = 'num';
    },
  );
}
