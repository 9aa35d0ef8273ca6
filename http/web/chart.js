// A small horizontal bar chart drawn as SVG: one bar per row, a scale of
// 0 to max with grid lines, and optional marks (grade thresholds). No
// library; the SVG scales to its container's width.

const NS = 'http://www.w3.org/2000/svg';

function el(name, attrs = {}, text) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) {
    if (v !== undefined && v !== null) e.setAttribute(k, String(v));
  }
  if (text !== undefined) e.textContent = text;
  return e;
}

// barChart draws bars into container, replacing what was there.
//   bars: [{key, label, value (number), text, title, className}]
//   opts: {max = 100, ticks = [0, 20, …], marks = [{value, label}],
//          labelWidth, rowHeight, width, label (accessible name)}
export function barChart(container, bars, opts = {}) {
  const max = opts.max ?? 100;
  const ticks = opts.ticks ?? [0, 20, 40, 60, 80, 100];
  const width = opts.width ?? 480;
  const labelW = opts.labelWidth ?? 160;
  const valueW = 50;
  const rowH = opts.rowHeight ?? 18;
  const top = 18;
  const plotW = width - labelW - valueW;
  const height = top + Math.max(bars.length, 1) * rowH + 6;
  const x = (v) => labelW + (Math.max(0, Math.min(v, max)) / max) * plotW;

  const svg = el('svg', {
    viewBox: `0 0 ${width} ${height}`, class: 'bars', role: 'img',
    'aria-label': opts.label || 'Biểu đồ', preserveAspectRatio: 'xMinYMin meet',
  });
  const grid = el('g', { class: 'grid' });
  for (const t of ticks) {
    grid.append(el('line', { x1: x(t), x2: x(t), y1: top - 4, y2: height - 4 }));
    grid.append(el('text', { x: x(t), y: top - 7, 'text-anchor': 'middle' }, String(t)));
  }
  svg.append(grid);
  const marks = el('g', { class: 'marks' });
  for (const m of opts.marks ?? []) {
    if (m.value <= 0 || m.value >= max) continue;
    marks.append(el('line', { x1: x(m.value), x2: x(m.value), y1: top - 2, y2: height - 4 }));
    if (m.label) marks.append(el('text', { x: x(m.value) + 2, y: height - 6 }, m.label));
  }
  svg.append(marks);

  bars.forEach((b, i) => {
    const y = top + i * rowH;
    const g = el('g', { class: 'bar ' + (b.className || ''), 'data-key': b.key, 'data-value': b.text });
    g.append(el('title', {}, b.title || `${b.label}: ${b.text}`));
    g.append(el('text', { class: 'label', x: labelW - 6, y: y + rowH / 2 + 4, 'text-anchor': 'end' }, b.label));
    const w = Math.max(x(b.value) - labelW, b.value > 0 ? 1 : 0);
    g.append(el('rect', { x: labelW, y: y + 2, width: w.toFixed(2), height: rowH - 5, rx: 2 }));
    g.append(el('text', { class: 'value', x: labelW + w + 4, y: y + rowH / 2 + 4 }, b.text));
    svg.append(g);
  });
  if (bars.length === 0) {
    svg.append(el('text', { x: width / 2, y: top + rowH / 2 + 4, 'text-anchor': 'middle', class: 'empty' }, 'Chưa có số liệu'));
  }
  container.replaceChildren(svg);
  return svg;
}
