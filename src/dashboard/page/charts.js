// Small drawings without a library: the chunk availability map (one cell per chunk, coloured by
// how many peers hold it) on a canvas, and each peer's upload/download rates as an SVG plot.
const SVG = 'http://www.w3.org/2000/svg';

/** Colour of a chunk held by `n` peers. */
function shade(n) {
  if (n <= 0) return '#fecaca';
  if (n === 1) return '#93c5fd';
  if (n === 2) return '#3b82f6';
  return '#1e3a8a';
}

/** base64 → Uint8Array (one byte per chunk: its holder count). */
export function decodeCounts(b64) {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/**
 * Draw `counts` into `canvas` (created on first use): up to 64 cells a row; with more chunks than
 * fit (over 1024), each cell shows the least-held chunk of its span. Stats go on data attributes.
 */
export function drawAvailability(canvas, counts) {
  const n = counts.length;
  const cells = Math.min(n, 1024);
  const perRow = Math.min(64, Math.max(cells, 1));
  const rows = Math.max(1, Math.ceil(cells / perRow));
  const size = cells <= 64 ? 10 : 6;
  canvas.width = perRow * size;
  canvas.height = rows * size;
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#f1f5f9';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  let min = n ? 255 : 0;
  let max = 0;
  let available = 0;
  for (const c of counts) {
    if (c > 0) available++;
    if (c < min) min = c;
    if (c > max) max = c;
  }
  for (let cell = 0; cell < cells; cell++) {
    const from = Math.floor((cell * n) / cells);
    const to = Math.max(from + 1, Math.floor(((cell + 1) * n) / cells));
    let least = 255;
    for (let i = from; i < to; i++) least = Math.min(least, counts[i]);
    ctx.fillStyle = shade(least);
    ctx.fillRect((cell % perRow) * size, Math.floor(cell / perRow) * size, size - 1, size - 1);
  }
  canvas.dataset.chunks = String(n);
  canvas.dataset.available = String(available);
  canvas.dataset.min = String(min);
  canvas.dataset.max = String(max);
  return { available, min, max };
}

/** A two-line rate plot (upload, download) over `rates` = [[time, up, down], …]. */
export function drawRates(svg, rates, windowMs = 180_000) {
  const w = 300;
  const h = 64;
  svg.setAttribute('viewBox', `0 0 ${w} ${h}`);
  svg.setAttribute('preserveAspectRatio', 'none');
  while (svg.firstChild) svg.firstChild.remove();
  const now = rates.length ? rates[rates.length - 1][0] : 0;
  const top = Math.max(0, ...rates.map((r) => Math.max(r[1], r[2])));
  const peak = Math.max(1, top);
  const x = (t) => w - ((now - t) / windowMs) * w;
  const y = (v) => h - 4 - (v / peak) * (h - 16);
  for (const [index, colour] of [[1, '#2563eb'], [2, '#16a34a']]) {
    const line = document.createElementNS(SVG, 'polyline');
    line.setAttribute('points', rates.map((r) => `${x(r[0]).toFixed(1)},${y(r[index]).toFixed(1)}`).join(' '));
    line.setAttribute('fill', 'none');
    line.setAttribute('stroke', colour);
    line.setAttribute('stroke-width', '1.6');
    line.setAttribute('vector-effect', 'non-scaling-stroke');
    svg.append(line);
  }
  const label = document.createElementNS(SVG, 'text');
  label.setAttribute('x', '4');
  label.setAttribute('y', '11');
  label.setAttribute('font-size', '10');
  label.setAttribute('fill', '#64748b');
  label.textContent = `${top > 0 ? `peak ${formatRate(top)}` : 'idle'} · last ${Math.round(windowMs / 60000)} min`;
  svg.append(label);
}

export function formatBytes(n) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(v >= 100 ? 0 : 1)} ${units[i]}`;
}

export function formatRate(bps) {
  return bps > 0 ? `${formatBytes(Math.round(bps))}/s` : '—';
}
