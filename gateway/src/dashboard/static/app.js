// Portcullis dashboard: three views (live, logs, usage) over the /dashboard/api JSON
// and SSE endpoints. No framework: DOM built with textContent only (nothing from the
// server is ever parsed as HTML), relative URLs, no inline code (strict CSP).
'use strict';
(() => {
  const $ = (sel, root = document) => root.querySelector(sel);
  const DECISIONS = ['allow', 'alert', 'block', 'auth_failed', 'error'];
  const MAX_LIVE_ROWS = 500;

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'dataset') Object.assign(e.dataset, v);
      else e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(c === undefined || c === null ? '' : String(c)));
    return e;
  }
  const pad = (n) => String(n).padStart(2, '0');
  function dateTime(ms) {
    const d = new Date(Number(ms));
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }
  const timeOnly = (ms) => dateTime(ms).slice(11);
  const num = (n) => (n === null || n === undefined ? '–' : Number(n).toLocaleString('en-US'));
  const ms = (n) => (n === null || n === undefined ? '–' : `${num(n)} ms`);
  const shortId = (s) => (s && s.length > 20 ? s.slice(0, 18) + '…' : s || '–');
  const badge = (d) => el('span', { class: `badge ${d}` }, d === 'auth_failed' ? 'auth failed' : d);
  function tags(list) {
    const span = el('span');
    const items = [...new Set(list || [])];
    if (!items.length) span.append('–');
    items.forEach((t) => span.append(el('span', { class: 'tag' }, t)));
    return span;
  }

  async function api(path) {
    const response = await fetch(path, { credentials: 'same-origin', headers: { accept: 'application/json' } });
    if (response.status === 401) {
      window.location.assign('login');
      throw new Error('signed out');
    }
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error((body.error && body.error.message) || `HTTP ${response.status}`);
    return body;
  }

  // ---- navigation -----------------------------------------------------------
  const views = ['live', 'logs', 'usage'];
  const loaded = new Set();
  function show() {
    const name = views.includes(location.hash.slice(1)) ? location.hash.slice(1) : 'live';
    for (const v of views) {
      $(`#view-${v}`).hidden = v !== name;
      const link = $(`#nav-${v}`);
      if (v === name) link.setAttribute('aria-current', 'page');
      else link.removeAttribute('aria-current');
    }
    document.title = `${$(`#nav-${name}`).textContent} · Portcullis dashboard`;
    if (!loaded.has(name)) {
      loaded.add(name);
      if (name === 'logs') loadLogs();
      if (name === 'usage') loadUsage();
    }
  }

  // ---- filter menus ------------------------------------------------------------
  async function fillMenus() {
    for (const select of document.querySelectorAll('.decision-select')) {
      DECISIONS.forEach((d) => select.append(el('option', { value: d }, d === 'auth_failed' ? 'auth failed' : d)));
    }
    try {
      const meta = await api('api/meta');
      for (const id of ['#live-project', '#logs-project', '#usage-project']) {
        meta.projects.forEach((p) => $(id).append(el('option', { value: p.name }, `${p.name} (${p.tenant})`)));
      }
    } catch (e) {
      console.warn(e);
    }
  }

  // ---- live ------------------------------------------------------------------
  let paused = false;
  const held = [];
  // The columns the live and logs tables share, after the time cell.
  const EVENT_COLUMNS = ['Tenant / project', 'Session', 'Path', 'Model', 'Decision', 'Findings', 'Tokens in', 'Tokens out', 'Latency'];
  function eventCells(e) {
    return [
      el('td', {}, `${e.tenant} / ${e.project || '–'}`),
      el('td', { class: 'mono', title: e.session_id || '' }, shortId(e.session_id)),
      el('td', { class: 'mono' }, e.path),
      el('td', { class: 'nowrap' }, e.model || '–'),
      el('td', {}, badge(e.decision)),
      el('td', {}, e.kind === 'follow_up_detection' ? el('span', {}, el('span', { class: 'tag' }, 'follow-up'), tags(e.detectors)) : tags(e.detectors)),
      el('td', { class: 'num' }, num(e.input_tokens)),
      el('td', { class: 'num' }, num(e.output_tokens)),
      el('td', { class: 'num' }, ms(e.latency_total_ms)),
    ];
  }
  function eventHeader(table) {
    const cols = ['Time', ...EVENT_COLUMNS];
    table.tHead.replaceChildren(el('tr', {}, ...cols.map((c, i) => el('th', { scope: 'col', class: i > 6 ? 'num' : undefined }, c))));
  }
  function liveRow(e) {
    return el('tr', { class: 'fresh', dataset: { project: e.project, decision: e.decision, id: e.id, ts: e.ts_ms } },
      el('td', {}, el('time', { datetime: new Date(e.ts_ms).toISOString() }, timeOnly(e.ts_ms))),
      ...eventCells(e));
  }
  function liveVisible(tr) {
    const project = $('#live-project').value, decision = $('#live-decision').value;
    return (!project || tr.dataset.project === project) && (!decision || tr.dataset.decision === decision);
  }
  function addLive(e) {
    const body = $('#live-table tbody');
    const tr = liveRow(e);
    tr.hidden = !liveVisible(tr);
    // Newest first by request time: events of concurrent requests can arrive out of order.
    const later = [...body.rows].find((r) => Number(r.dataset.ts) <= Number(e.ts_ms));
    body.insertBefore(tr, later || null);
    while (body.rows.length > MAX_LIVE_ROWS) body.lastElementChild.remove();
    $('#live-empty').hidden = body.rows.length > 0;
  }
  function liveStatus(state, text) {
    const s = $('#live-status');
    s.dataset.state = state;
    s.textContent = text;
  }
  function startLive() {
    const source = new EventSource('api/live');
    source.addEventListener('ready', () => liveStatus(paused ? 'paused' : 'connected', paused ? 'Paused' : 'Live: connected'));
    source.addEventListener('event', (m) => {
      let e;
      try { e = JSON.parse(m.data); } catch { return; }
      if (paused) {
        held.push(e);
        liveStatus('paused', `Paused: ${held.length} new`);
      } else addLive(e);
    });
    source.onerror = () => {
      liveStatus('reconnecting', 'Reconnecting…');
      // A closed stream after sign-out: find out and go to the login page.
      if (source.readyState === EventSource.CLOSED) api('api/meta').catch(() => {});
    };
  }
  function togglePause() {
    paused = !paused;
    const button = $('#live-pause');
    button.setAttribute('aria-pressed', String(paused));
    button.textContent = paused ? 'Resume' : 'Pause';
    if (paused) liveStatus('paused', 'Paused');
    else {
      held.splice(0).forEach(addLive);
      liveStatus('connected', 'Live: connected');
    }
  }
  function refilterLive() {
    for (const tr of $('#live-table tbody').rows) tr.hidden = !liveVisible(tr);
  }

  // ---- logs ------------------------------------------------------------------
  function window_(form) {
    const now = Math.floor(Date.now() / 1000);
    const from = form.from.value ? Math.floor(new Date(form.from.value).getTime() / 1000) : null;
    const to = form.to.value ? Math.floor(new Date(form.to.value).getTime() / 1000) : now + 60;
    return { from: from ?? to - Number(form.range.value), to };
  }
  function logsQuery() {
    const form = $('#logs-form');
    const { from, to } = window_(form);
    const q = new URLSearchParams({ from, to });
    for (const name of ['path', 'project', 'decision', 'detector', 'model', 'session']) {
      if (form[name].value.trim()) q.set(name, form[name].value.trim());
    }
    return q;
  }
  async function loadLogs() {
    const grouped = $('#logs-group').checked;
    const count = $('#logs-count');
    count.textContent = 'Loading…';
    $('#logs-table').hidden = grouped;
    $('#sessions-table').hidden = !grouped;
    try {
      const q = logsQuery();
      if (grouped) {
        const data = await api(`api/sessions?${q}`);
        renderSessions(data.sessions);
        count.textContent = `${data.sessions.length} session${data.sessions.length === 1 ? '' : 's'}`;
      } else {
        const data = await api(`api/logs?${q}`);
        renderLogs(data.events);
        count.textContent = `${data.events.length} event${data.events.length === 1 ? '' : 's'}` + (data.events.length >= data.limit ? ' (limit reached: narrow the filters)' : '');
      }
      count.dataset.loaded = String(Date.now());
    } catch (e) {
      count.textContent = `Could not load logs: ${e.message}`;
    }
  }
  function renderLogs(events) {
    const body = $('#logs-table tbody');
    body.replaceChildren(...events.map((e) => el('tr', { dataset: { id: e.id, decision: e.decision } },
      el('td', {}, el('button', { type: 'button', class: 'rowlink', 'aria-label': `Details of the ${e.decision} event at ${dateTime(e.ts_ms)}` }, dateTime(e.ts_ms))),
      ...eventCells(e))));
  }
  function renderSessions(sessions) {
    const body = $('#sessions-table tbody');
    body.replaceChildren(...sessions.map((s) => el('tr', { dataset: { session: s.session_id } },
      el('td', { class: 'mono' }, el('button', { type: 'button', class: 'rowlink', 'aria-label': `Show the turns of session ${s.session_id}` }, shortId(s.session_id))),
      el('td', {}, `${s.tenant} / ${s.project}`),
      el('td', {}, dateTime(s.first_ms)), el('td', {}, dateTime(s.last_ms)),
      el('td', { class: 'num' }, num(s.requests)), el('td', { class: 'num' }, num(s.blocked)), el('td', { class: 'num' }, num(s.alerted)),
      el('td', { class: 'num' }, num(s.input_tokens)), el('td', { class: 'num' }, num(s.output_tokens)),
      el('td', {}, tags(s.models)))));
  }
  async function openDetail(id) {
    const panel = $('#detail'), body = $('#detail-body');
    body.replaceChildren(el('p', {}, 'Loading…'));
    panel.hidden = false;
    try {
      const d = await api(`api/events/${encodeURIComponent(id)}`);
      body.replaceChildren(...renderDetail(d));
    } catch (e) {
      body.replaceChildren(el('p', {}, `Could not load the event: ${e.message}`));
    }
    panel.focus();
  }
  function facts(pairs) {
    const dl = el('dl', { class: 'facts' });
    for (const [k, v] of pairs) dl.append(el('dt', {}, k), el('dd', {}, v));
    return dl;
  }
  function renderDetail(d) {
    const e = d.event, out = [];
    out.push(facts([
      ['Decision', badge(d.decision)], ['Time', dateTime(e.ts_ms)], ['Tenant / project', `${e.tenant} / ${e.project}`],
      ['Session', e.session_id || '–'], ['Request', `${e.method} ${e.path}`], ['Model', e.model || '–'],
      ['Status', `gateway ${e.gateway_status}, upstream ${e.upstream_status ?? '–'}`], ['Reasons', tags(e.reasons)],
      ['Client', e.client_id || '–'], ['User agent', e.user_agent || '–'], ['Event id', el('span', { class: 'mono' }, e.id)],
    ]));
    out.push(el('h3', {}, 'Tokens'), facts([
      ['Input', num(d.tokens.input_tokens)], ['Output', num(d.tokens.output_tokens)],
      ['Cache write', num(d.tokens.cache_creation_input_tokens)], ['Cache read', num(d.tokens.cache_read_input_tokens)],
    ]));
    const l = d.latency;
    out.push(el('h3', {}, 'Latency'), facts([
      ['Total', ms(l.total_ms)], ['Upstream', ms(l.upstream_ms)], ['Outside upstream', ms(l.outside_upstream_ms)],
      ['Gateway overhead', `${num(l.gateway_overhead_us)} µs`],
    ]));
    out.push(el('h3', {}, `Findings (${d.findings.length})`));
    if (d.findings.length) {
      const t = el('table', {}, el('thead', {}, el('tr', {}, ...['Detector', 'Category', 'Confidence', 'Where', 'Redacted match'].map((h) => el('th', { scope: 'col' }, h)))));
      t.append(el('tbody', {}, ...d.findings.map((f) => el('tr', {},
        el('td', { class: 'mono' }, f.detector), el('td', {}, f.category), el('td', { class: 'num' }, Number(f.confidence).toFixed(2)),
        el('td', {}, `${f.request_index >= 0 ? `batch request ${f.request_index}: ` : ''}${f.source}${f.role ? ` (${f.role})` : ''}${f.message_index >= 0 ? `, message ${f.message_index}` : ''}`),
        el('td', { class: 'mono' }, f.redacted)))));
      out.push(t);
    } else out.push(el('p', { class: 'empty' }, 'No findings.'));
    if (d.ml_verdicts.length) {
      out.push(el('h3', {}, 'ML verdicts'), el('ul', {}, ...d.ml_verdicts.map((v) => el('li', {}, `${v.label} ${Number(v.score).toFixed(2)} (${v.model}, ${v.source})`))));
    }
    out.push(el('h3', {}, 'Conversation'));
    out.push(d.content ? renderConversation(d.content) : el('p', { class: 'empty' }, 'Not captured: this project records metadata only (capture = "none").'));
    return out;
  }
  function block(b) {
    const label = b.kind.replace('_', ' ') + (b.name ? ` · ${b.name}` : '');
    return el('div', {}, el('span', { class: 'kind' }, label), el('pre', {}, b.text));
  }
  function renderConversation(c) {
    const div = el('div', { class: 'conversation', id: 'conversation' });
    if (c.system && c.system.length) div.append(el('article', { class: 'system' }, el('h4', {}, 'System'), ...c.system.map((t) => el('pre', {}, t))));
    // A batch's messages carry their request's index: a heading opens each request.
    let request = null;
    (c.messages || []).forEach((m, i) => {
      if (m.request_index != null && m.request_index !== request) {
        request = m.request_index;
        div.append(el('h4', { class: 'batch-request' }, `Batch request ${request}`));
      }
      div.append(el('article', { class: m.role }, el('h4', {}, `${i}. ${m.role}`), ...(m.blocks || []).map(block)));
    });
    if (c.response && c.response.length) div.append(el('article', { class: 'assistant' }, el('h4', {}, 'Response'), ...c.response.map(block)));
    if (c.tools && c.tools.length) div.append(el('p', {}, 'Tools offered: ', tags(c.tools)));
    if (c.truncated) div.append(el('p', { class: 'empty' }, 'Capture truncated at the configured size limit.'));
    return div;
  }

  // ---- usage -----------------------------------------------------------------
  async function loadUsage() {
    const form = $('#usage-form'), status = $('#usage-status');
    const to = Math.floor(Date.now() / 1000) + 60, from = to - Number(form.range.value);
    const q = new URLSearchParams({ from, to, by: form.by.value });
    if (form.project.value) q.set('project', form.project.value);
    status.textContent = 'Loading…';
    let data;
    try {
      data = await api(`api/usage?${q}`);
    } catch (e) {
      status.textContent = `Could not load usage: ${e.message}`;
      return;
    }
    const step = data.bucket_secs;
    const buckets = [];
    for (let t = Math.floor(data.from / step) * step; t < data.to; t += step) buckets.push(t);
    const keys = [...new Set(data.series.map((r) => r.key))].sort();
    const cell = new Map(data.series.map((r) => [`${r.t}|${r.key}`, r]));
    const get = (t, k, f) => Number((cell.get(`${t}|${k}`) || {})[f] || 0);
    const sum = (f) => data.series.reduce((s, r) => s + Number(r[f] || 0), 0);
    // Days for daily buckets, day and hour across several days, the hour within one day.
    const multiDay = data.to - data.from > 86400 + 60;
    const timeFmt = step >= 86400 ? (t) => dateTime(t * 1000).slice(5, 10)
      : multiDay ? (t) => dateTime(t * 1000).slice(5, 16) : (t) => dateTime(t * 1000).slice(11, 16);
    $('#usage-kpis').replaceChildren(...[
      ['Requests', sum('requests')], ['Input tokens', sum('input_tokens')], ['Output tokens', sum('output_tokens')],
      ['Blocked', sum('blocked')], ['Alerted', sum('alerted')],
    ].map(([k, v]) => el('div', {}, el('dt', {}, k), el('dd', {}, num(v)))));
    const has = data.series.length > 0;
    const span = has ? buckets : [];
    Charts.stackedBars($('#chart-requests'), { buckets: span, keys, value: (t, k) => get(t, k, 'requests'), label: `Requests per ${data.by}`, timeFmt });
    Charts.lines($('#chart-tokens'), {
      buckets: span, label: 'Tokens', timeFmt,
      series: [
        { name: 'input tokens', values: buckets.map((t) => keys.reduce((s, k) => s + get(t, k, 'input_tokens'), 0)) },
        { name: 'output tokens', values: buckets.map((t) => keys.reduce((s, k) => s + get(t, k, 'output_tokens'), 0)) },
      ],
    });
    const colors = { allow: '#166534', alert: '#92400e', block: '#b91c1c', auth_failed: '#6b21a8', error: '#374151' };
    Charts.hbars($('#chart-decisions'), { label: 'Decisions', unit: 'Requests', items: data.decisions.map((d) => ({ label: d.decision, value: Number(d.events), color: colors[d.decision] })) });
    Charts.hbars($('#chart-detectors'), { label: 'Top detectors', unit: 'Findings', items: data.top_detectors.map((d) => ({ label: d.detector, value: Number(d.hits), color: '#b91c1c' })) });
    status.textContent = `${num(sum('requests'))} requests, ${step >= 3600 ? step / 3600 + ' h' : step / 60 + ' min'} intervals`;
    status.dataset.loaded = String(Date.now());
  }

  // ---- wiring ----------------------------------------------------------------
  document.addEventListener('DOMContentLoaded', async () => {
    eventHeader($('#live-table'));
    eventHeader($('#logs-table'));
    await fillMenus();
    $('#live-pause').addEventListener('click', togglePause);
    $('#live-project').addEventListener('change', refilterLive);
    $('#live-decision').addEventListener('change', refilterLive);
    $('#logs-form').addEventListener('submit', (ev) => { ev.preventDefault(); $('#detail').hidden = true; loadLogs(); });
    $('#logs-form').addEventListener('reset', () => setTimeout(loadLogs, 0));
    $('#logs-table tbody').addEventListener('click', (ev) => {
      const button = ev.target.closest('button.rowlink');
      if (button) openDetail(button.closest('tr').dataset.id);
    });
    $('#sessions-table tbody').addEventListener('click', (ev) => {
      const button = ev.target.closest('button.rowlink');
      if (!button) return;
      $('#logs-session').value = button.closest('tr').dataset.session;
      $('#logs-group').checked = false;
      loadLogs();
    });
    $('#detail-close').addEventListener('click', () => { $('#detail').hidden = true; });
    $('#usage-form').addEventListener('submit', (ev) => { ev.preventDefault(); loadUsage(); });
    window.addEventListener('hashchange', show);
    show();
    startLive();
  });
})();
