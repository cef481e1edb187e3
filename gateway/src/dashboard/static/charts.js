// Hand-made SVG charts for the usage view: stacked bars, lines, horizontal bars.
// Every chart is an <svg role="img"> with a text summary, a legend that does not rely
// on colour alone, and the same numbers as a table under "Show data as a table".
'use strict';
window.Charts = (() => {
  const NS = 'http://www.w3.org/2000/svg';
  const COLORS = ['#1d4ed8', '#c2410c', '#15803d', '#7e22ce', '#b91c1c', '#0f766e', '#a16207', '#475569'];
  const W = 640, H = 230, L = 48, R = 12, T = 10, B = 26;

  function node(tag, attrs, text) {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function html(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function fmt(n) {
    n = Number(n) || 0;
    if (n >= 1e9) return (n / 1e9).toFixed(1) + 'G';
    if (n >= 1e6) return (n / 1e6).toFixed(1) + 'M';
    if (n >= 1e4) return (n / 1e3).toFixed(1) + 'k';
    return String(Math.round(n * 100) / 100);
  }
  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = 10 ** Math.floor(Math.log10(v));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }
  function reset(fig) {
    for (const child of [...fig.children]) if (child.tagName !== 'FIGCAPTION') child.remove();
  }
  function frame(label) {
    const svg = node('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': label, preserveAspectRatio: 'xMidYMid meet' });
    svg.appendChild(node('title', {}, label));
    return svg;
  }
  function yAxis(svg, max) {
    for (let i = 0; i <= 4; i++) {
      const v = (max * i) / 4, y = T + (H - T - B) * (1 - i / 4);
      svg.appendChild(node('line', { x1: L, x2: W - R, y1: y, y2: y, stroke: i ? '#e5e7eb' : '#6b7280' }));
      svg.appendChild(node('text', { x: L - 6, y: y + 4, 'text-anchor': 'end' }, fmt(v)));
    }
  }
  function xLabels(svg, buckets, x, timeFmt) {
    const step = Math.max(1, Math.ceil(buckets.length / 6));
    buckets.forEach((t, i) => {
      if (i % step) return;
      svg.appendChild(node('text', { x: x(i), y: H - 8, 'text-anchor': 'middle' }, timeFmt(t)));
    });
  }
  function legend(names) {
    const ul = html('ul', { class: 'legend' });
    names.forEach((name, i) => ul.appendChild(html('li', { class: 'c' + (i % COLORS.length) }, name || '(none)')));
    return ul;
  }
  function table(headers, rows) {
    const details = html('details');
    details.appendChild(html('summary', {}, 'Show data as a table'));
    const t = html('table'), head = html('tr');
    headers.forEach((h) => head.appendChild(html('th', { scope: 'col' }, h)));
    t.appendChild(html('thead')).appendChild(head);
    const body = t.appendChild(html('tbody'));
    rows.forEach((r) => {
      const tr = body.appendChild(html('tr'));
      r.forEach((c) => tr.appendChild(html('td', {}, String(c))));
    });
    details.appendChild(t);
    return details;
  }
  function empty(fig, label) {
    reset(fig);
    fig.appendChild(html('p', { class: 'empty' }, `No ${label.toLowerCase()} in this range.`));
  }

  // buckets: sorted bucket starts; keys: series names; value(t, key) -> number.
  function stackedBars(fig, { buckets, keys, value, label, timeFmt }) {
    if (!buckets.length) return empty(fig, label);
    reset(fig);
    const totals = buckets.map((t) => keys.reduce((s, k) => s + value(t, k), 0));
    const max = niceMax(Math.max(...totals));
    const svg = frame(`${label}: ${fmt(totals.reduce((a, b) => a + b, 0))} in total over ${buckets.length} intervals`);
    yAxis(svg, max);
    const slot = (W - L - R) / buckets.length, bw = Math.max(2, slot * 0.75);
    const x = (i) => L + slot * i + slot / 2;
    const scale = (v) => ((H - T - B) * v) / max;
    buckets.forEach((t, i) => {
      let y = H - B;
      keys.forEach((k, ki) => {
        const v = value(t, k);
        if (!v) return;
        const h = scale(v);
        y -= h;
        const rect = node('rect', { x: x(i) - bw / 2, y, width: bw, height: Math.max(h, 1), fill: COLORS[ki % COLORS.length] });
        rect.appendChild(node('title', {}, `${timeFmt(t)} · ${k || '(none)'}: ${fmt(v)}`));
        svg.appendChild(rect);
      });
    });
    xLabels(svg, buckets, x, timeFmt);
    fig.append(svg, legend(keys), table(['Time', ...keys.map((k) => k || '(none)')], buckets.map((t) => [timeFmt(t), ...keys.map((k) => value(t, k))])));
  }

  // series: [{ name, values: number per bucket }]
  function lines(fig, { buckets, series, label, timeFmt }) {
    if (!buckets.length) return empty(fig, label);
    reset(fig);
    const max = niceMax(Math.max(...series.flatMap((s) => s.values)));
    const svg = frame(`${label}: ` + series.map((s) => `${s.name} ${fmt(s.values.reduce((a, b) => a + b, 0))}`).join(', '));
    yAxis(svg, max);
    const slot = (W - L - R) / buckets.length;
    const x = (i) => L + slot * i + slot / 2;
    const y = (v) => H - B - ((H - T - B) * v) / max;
    series.forEach((s, si) => {
      const color = COLORS[si % COLORS.length];
      const points = s.values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
      svg.appendChild(node('polyline', { points, fill: 'none', stroke: color, 'stroke-width': 2.5, 'stroke-linejoin': 'round' }));
      s.values.forEach((v, i) => {
        const dot = node('circle', { cx: x(i), cy: y(v), r: buckets.length > 30 ? 1.8 : 3, fill: color });
        dot.appendChild(node('title', {}, `${timeFmt(buckets[i])} · ${s.name}: ${fmt(v)}`));
        svg.appendChild(dot);
      });
    });
    xLabels(svg, buckets, x, timeFmt);
    fig.append(svg, legend(series.map((s) => s.name)), table(['Time', ...series.map((s) => s.name)], buckets.map((t, i) => [timeFmt(t), ...series.map((s) => s.values[i])])));
  }

  // items: [{ label, value, color? }]
  function hbars(fig, { items, label, unit }) {
    if (!items.length) return empty(fig, label);
    reset(fig);
    const rowH = 26, left = 190, height = items.length * rowH + 8;
    const max = niceMax(Math.max(...items.map((i) => i.value)));
    const svg = node('svg', { viewBox: `0 0 ${W} ${height}`, role: 'img', 'aria-label': `${label}: ` + items.map((i) => `${i.label} ${i.value}`).join(', ') });
    svg.appendChild(node('title', {}, label));
    items.forEach((item, n) => {
      const y = 4 + n * rowH, w = Math.max(2, ((W - left - 60) * item.value) / max);
      svg.appendChild(node('text', { x: left - 8, y: y + 16, 'text-anchor': 'end' }, item.label.length > 30 ? item.label.slice(0, 29) + '…' : item.label));
      svg.appendChild(node('rect', { x: left, y: y + 3, width: w, height: rowH - 8, rx: 3, fill: item.color || COLORS[0] }));
      svg.appendChild(node('text', { x: left + w + 6, y: y + 16 }, fmt(item.value)));
    });
    fig.append(svg, table([label, unit || 'Count'], items.map((i) => [i.label, i.value])));
  }

  return { stackedBars, lines, hbars, fmt, COLORS };
})();
