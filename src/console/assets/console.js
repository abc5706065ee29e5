// vpclab console: the page's behaviour. Plain JS, no library: the state comes from
// /api/state (or a POST /api/run), the table, filters and charts are drawn from it here.
'use strict';

const $ = (id) => document.getElementById(id);
const SVG = 'http://www.w3.org/2000/svg';
let state = null;
let selected = null;

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const c of children) e.append(c);
  return e;
}

function svgEl(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function fmtBytes(n) {
  if (n >= 1 << 30) return (n / (1 << 30)).toFixed(1) + ' GiB';
  if (n >= 1 << 20) return (n / (1 << 20)).toFixed(1) + ' MiB';
  if (n >= 1 << 10) return (n / (1 << 10)).toFixed(1) + ' KiB';
  return n + ' B';
}

// ---- state ----------------------------------------------------------------------------

// `vpclab serve --tokens`: the project's bearer token, asked for once per tab.
let token = sessionStorage.getItem('vpclab-token') || '';

async function load() {
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  const r = await fetch('/api/state', { headers });
  const body = await r.json();
  $('auth').hidden = !body.auth;
  if (body.auth) {
    $('auth-error').textContent = token ? body.error : '';
    return;
  }
  if (!r.ok) {
    $('description').textContent = body.error;
    return;
  }
  show(body);
}

$('auth').addEventListener('submit', (e) => {
  e.preventDefault();
  token = $('token').value.trim();
  sessionStorage.setItem('vpclab-token', token);
  load();
});

// The scenario as the console started with it.
let original = null;

function show(s) {
  state = s;
  if (original === null) original = s.yaml;
  $('name').textContent = s.name;
  const server = s.mode === 'server';
  $('meta').textContent = server
    ? `a project on vpclab serve · ${s.provider}`
    : `${s.file} · ${s.provider} · ${s.format} records`;
  $('description').textContent = s.description || '';
  // A server's project has no file to edit.
  $('editor-section').hidden = server;
  $('yaml').value = s.yaml || '';
  const enis = [...new Set(s.records.map((r) => r.eni))].sort();
  const pick = $('f-eni');
  const was = pick.value;
  pick.replaceChildren(el('option', { value: '' }, 'all'));
  for (const e of enis) pick.append(el('option', { value: e }, e));
  pick.value = enis.includes(was) ? was : '';
  $('more').textContent = s.more
    ? `${s.more} more records not shown (the console keeps the first ${s.limits.records}).`
    : s.truncated
      ? `More records not shown: the console reads the first ${s.limits.records} of each ` +
        'log stream.'
      : '';
  const notes = $('notes');
  notes.replaceChildren();
  if (s.notes.length) {
    notes.append(el('h3', {}, 'Notes'), el('pre', {}, s.notes.join('\n')));
  }
  const x = s.expectations;
  const expect = $('expectations');
  expect.replaceChildren();
  if (x.count) {
    const held = x.count - x.failures.length;
    expect.append(el('p', { class: x.failures.length ? 'failed' : 'held' },
      `Expectations (expect:): ${held} of ${x.count} hold`));
    if (x.failures.length) {
      expect.append(el('pre', {}, x.failures.map((f) => `line ${f.line}: ${f.message}`)
        .join('\n')));
    }
  }
  hideExplanation();
  loadGraph();
  render();
}

async function loadGraph() {
  const box = $('graph');
  $('topology-section').hidden = !state.graph;
  if (!state.graph) return;
  const r = await fetch('/api/graph.svg');
  if (!r.ok) return;
  // Our own server's picture of the user's own file (`vpclab graph` escapes every name).
  box.innerHTML = await r.text();
  for (const f of box.querySelectorAll('g.flow, g.badge, g.flow-row')) {
    const n = Number(f.dataset.flow || f.id.replace('flow', ''));
    f.addEventListener('click', () => flowClicked(n));
  }
}

// Flow N of the picture filters the table: its sender's address and its records' action.
function flowClicked(n) {
  const flow = state.flows.find((f) => f.n === n);
  if (!flow) return;
  $('f-addr').value = flow.addr || '';
  $('f-action').value = flow.action;
  render();
  $('records-section').scrollIntoView({ block: 'start' });
}

// ---- filters and table --------------------------------------------------------------

function filtered() {
  const eni = $('f-eni').value;
  const action = $('f-action').value;
  const addr = $('f-addr').value.trim();
  const port = $('f-port').value.trim();
  const from = parseFloat($('f-from').value);
  const to = parseFloat($('f-to').value);
  return state.records.filter((r) => {
    if (eni && r.eni !== eni) return false;
    if (action && r.action !== action) return false;
    if (addr && !(String(r.src || '').startsWith(addr) || String(r.dst || '').startsWith(addr))) {
      return false;
    }
    if (port && !(String(r.sport) === port || String(r.dport) === port)) return false;
    const t0 = r.first !== undefined ? r.first : r.window[0];
    const t1 = r.last !== undefined ? r.last : r.window[1];
    if (!Number.isNaN(from) && t1 < from) return false;
    if (!Number.isNaN(to) && t0 > to) return false;
    return true;
  });
}

function render() {
  const rows = filtered();
  // Columns: every field name in first-seen order (router and CCN records add their own).
  const columns = [];
  for (const r of state.records) {
    for (const [k] of r.fields) if (!columns.includes(k)) columns.push(k);
  }
  const head = el('tr', {}, el('th', {}, '#'));
  for (const c of columns) head.append(el('th', {}, c));
  $('records').tHead.replaceChildren(head);
  const body = $('records').tBodies[0];
  body.replaceChildren();
  for (const r of rows) {
    const values = Object.fromEntries(r.fields);
    const tr = el('tr', { class: 'record', 'data-n': r.n, 'data-action': r.action || r.status });
    tr.append(el('td', {}, String(r.n)));
    for (const c of columns) {
      const v = values[c] === undefined ? '' : values[c];
      tr.append(el('td', c === 'action' ? { class: v } : {}, v));
    }
    if (selected === r.n) tr.classList.add('selected');
    tr.addEventListener('click', () => explainRecord(r.n));
    body.append(tr);
  }
  $('count').textContent = `${rows.length} of ${state.total}`;
  dashboard(rows);
}

// ---- a record's explanation ------------------------------------------------------------

function hideExplanation() {
  selected = null;
  $('explain').hidden = true;
}

// A server's stored record is its line alone: no packets, no decisions.
function storedRecord(n) {
  const row = state.records.find((r) => r.n === n);
  return {
    line: row.line,
    packets: [],
    decisions: [],
    explanations: [],
    stored: true,
  };
}

async function explainRecord(n) {
  let x;
  if (state.mode === 'server') {
    x = storedRecord(n);
  } else {
    const r = await fetch(`/api/records/${n}`);
    x = await r.json();
    if (!r.ok) return;
  }
  selected = n;
  for (const tr of document.querySelectorAll('tr.record')) {
    tr.classList.toggle('selected', Number(tr.dataset.n) === n);
  }
  $('x-n').textContent = String(n);
  $('x-line').textContent = x.line;
  $('x-packets').textContent = x.stored
    ? 'not kept: the log service stores records, not the packets behind them'
    : x.packets.length
      ? x.packets.map((id) => '#' + id).join(' ')
      : 'none (a record without traffic)';
  const why = $('x-why');
  why.replaceChildren();
  const lines = x.why || x.decisions;
  if (lines.length) {
    why.append(el('p', {}, el('b', {}, 'Why: ')));
    for (const d of lines) {
      why.append(el('p', d.startsWith('hint:') ? { class: 'hint-line' } : {}, d));
    }
  }
  let text = x.explanations.map((lines) => lines.join('\n')).join('\n');
  if (x.unexplained) {
    text += `\n(${x.unexplained} more packets: the console explains the first ` +
      `${state.limits.explained_packets} packets of a run)`;
  }
  $('x-explanations').textContent = text;
  $('x-explanations').hidden = !text;
  $('explain').hidden = false;
}

// ---- dashboard: small SVG charts -----------------------------------------------------

function topN(rows, key, value, n) {
  const sums = new Map();
  for (const r of rows) {
    const k = key(r);
    if (k === undefined) continue;
    sums.set(k, (sums.get(k) || 0) + value(r));
  }
  return [...sums.entries()]
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, n);
}

// Horizontal bars: [[label, value, colour?]]; clicking one calls `pick(label)`.
function bars(box, data, fmt, pick) {
  box.replaceChildren();
  if (!data.length) {
    box.append(el('p', { class: 'empty' }, 'no records'));
    return;
  }
  const w = 340;
  const row = 20;
  const labelW = 150;
  const max = Math.max(...data.map((d) => d[1])) || 1;
  const svg = svgEl('svg', {
    class: 'chart',
    width: w,
    height: data.length * row + 4,
    viewBox: `0 0 ${w} ${data.length * row + 4}`,
  });
  data.forEach(([label, v, colour], i) => {
    const y = i * row + 2;
    const bw = Math.max(1, ((w - labelW - 70) * v) / max);
    svg.append(svgEl('text', { x: labelW - 6, y: y + 13, 'text-anchor': 'end' }, label));
    const bar = svgEl('rect', {
      x: labelW, y: y + 2, width: bw, height: row - 6, fill: colour || '#3f6fb5',
    });
    bar.append(svgEl('title', {}, `${label}: ${fmt(v)}`));
    if (pick) {
      bar.classList.add('pick');
      bar.setAttribute('data-label', label);
      bar.addEventListener('click', () => pick(label));
    }
    svg.append(bar);
    svg.append(svgEl('text', { x: labelW + bw + 4, y: y + 13 }, fmt(v)));
  });
  box.append(svg);
}

const PALETTE = ['#3f6fb5', '#e08a1e', '#6a3d9a', '#1b9e77', '#d95f02', '#7570b3', '#66a61e'];

// Lines of bytes per capture window, one per ENI (the top six by bytes).
function timeChart(box, rows) {
  box.replaceChildren();
  const traffic = rows.filter((r) => r.bytes !== undefined);
  if (!traffic.length) {
    box.append(el('p', { class: 'empty' }, 'no records'));
    return;
  }
  const enis = topN(traffic, (r) => r.eni, (r) => r.bytes, 6).map((e) => e[0]);
  const times = [...new Set(traffic.map((r) => r.window[0]))].sort((a, b) => a - b);
  const series = enis.map((e) => times.map((t) => traffic
    .filter((r) => r.eni === e && r.window[0] === t)
    .reduce((s, r) => s + r.bytes, 0)));
  const max = Math.max(...series.flat()) || 1;
  const w = 340;
  const h = 150;
  const left = 58;
  const bottom = 20;
  const legend = enis.length * 14;
  const svg = svgEl('svg', {
    class: 'chart', width: w, height: h + legend, viewBox: `0 0 ${w} ${h + legend}`,
  });
  const span = w - left - 10;
  const x = (i) => left + (times.length === 1 ? span / 2 : (i * span) / (times.length - 1));
  const y = (v) => h - bottom - (v * (h - bottom - 10)) / max;
  svg.append(svgEl('line', { class: 'axis', x1: left, y1: h - bottom, x2: w - 5, y2: h - bottom }));
  svg.append(svgEl('line', { class: 'axis', x1: left, y1: 5, x2: left, y2: h - bottom }));
  svg.append(svgEl('text', { x: left - 4, y: 14, 'text-anchor': 'end' }, fmtBytes(max)));
  svg.append(svgEl('text', { x: left - 4, y: h - bottom, 'text-anchor': 'end' }, '0'));
  svg.append(svgEl('text', { x: left, y: h - 4 }, `t+${times[0]}s`));
  if (times.length > 1) {
    const last = `t+${times[times.length - 1]}s`;
    svg.append(svgEl('text', { x: w - 5, y: h - 4, 'text-anchor': 'end' }, last));
  }
  series.forEach((values, k) => {
    const colour = PALETTE[k % PALETTE.length];
    if (times.length === 1) {
      // One capture window: a bar per ENI, side by side.
      const bw = Math.min(40, span / (2 * series.length));
      const bx = left + span / 2 - (series.length * bw) / 2 + k * bw;
      const bar = svgEl('rect', {
        x: bx, y: y(values[0]), width: bw - 2, height: h - bottom - y(values[0]), fill: colour,
      });
      bar.append(svgEl('title', {}, `${enis[k]} t+${times[0]}s: ${fmtBytes(values[0])}`));
      svg.append(bar);
    } else {
      const points = values.map((v, i) => `${x(i)},${y(v)}`).join(' ');
      svg.append(svgEl('polyline', { points, fill: 'none', stroke: colour, 'stroke-width': 2 }));
      values.forEach((v, i) => {
        const dot = svgEl('circle', { cx: x(i), cy: y(v), r: 3, fill: colour });
        dot.append(svgEl('title', {}, `${enis[k]} t+${times[i]}s: ${fmtBytes(v)}`));
        svg.append(dot);
      });
    }
    const ly = h + k * 14 + 8;
    svg.append(svgEl('rect', { x: left, y: ly - 8, width: 10, height: 10, fill: colour }));
    svg.append(svgEl('text', { x: left + 14, y: ly + 1 }, enis[k]));
  });
  box.append(svg);
}

// A filter set from the dashboard (a bar clicked), and the table and charts redrawn.
function filterBy(id, value) {
  $(id).value = value;
  render();
}

function dashboard(rows) {
  const traffic = rows.filter((r) => r.action);
  timeChart($('c-time'), traffic);
  const colour = { ACCEPT: '#2e7d32', REJECT: '#c62828' };
  bars($('c-action'), topN(traffic, (r) => r.action, (r) => r.packets, 2)
    .map(([a, v]) => [a, v, colour[a]]), String, (a) => filterBy('f-action', a));
  bars($('c-talkers'), topN(traffic, (r) => r.src, (r) => r.bytes, 8), fmtBytes,
    (a) => filterBy('f-addr', a));
  const rejected = traffic.filter((r) => r.action === 'REJECT');
  const proto = { 1: 'icmp', 6: 'tcp', 17: 'udp' };
  bars($('c-ports'), topN(rejected, (r) => `${proto[r.protocol] || r.protocol}/${r.dport}`,
    (r) => r.packets, 8).map(([k, v]) => [k, v, colour.REJECT]), String, (k) => {
    $('f-action').value = 'REJECT';
    filterBy('f-port', k.split('/')[1]);
  });
  bars($('c-sources'), topN(rejected, (r) => r.src, (r) => r.packets, 8)
    .map(([k, v]) => [k, v, colour.REJECT]), String, (a) => {
    $('f-action').value = 'REJECT';
    filterBy('f-addr', a);
  });
}

// ---- editor ------------------------------------------------------------------------

async function rerun() {
  const button = $('run');
  const status = $('run-status');
  const error = $('run-error');
  button.disabled = true;
  status.textContent = 'running…';
  try {
    const r = await fetch('/api/run', { method: 'POST', body: $('yaml').value });
    const body = await r.json().catch(() => ({ error: `HTTP ${r.status}` }));
    if (r.ok) {
      error.hidden = true;
      const yaml = $('yaml').value;
      show(body);
      $('yaml').value = yaml;
      status.textContent = `ran: ${body.total} records`;
    } else {
      error.textContent = body.error + (body.line ? `\n(line ${body.line})` : '');
      error.hidden = false;
      status.textContent = 'not run: nothing changed';
      if (body.line) selectLine(body.line);
    }
  } catch (e) {
    error.textContent = `the console did not answer: ${e}`;
    error.hidden = false;
    status.textContent = '';
  } finally {
    button.disabled = false;
  }
}

// Puts the editor's caret on a 1-based line, so the error's line is where the learner looks.
function selectLine(line) {
  const ta = $('yaml');
  const lines = ta.value.split('\n');
  const start = lines.slice(0, line - 1).reduce((s, l) => s + l.length + 1, 0);
  const end = start + (lines[line - 1] || '').length;
  ta.focus();
  ta.setSelectionRange(start, end);
}

for (const id of ['f-eni', 'f-action', 'f-addr', 'f-port', 'f-from', 'f-to']) {
  $(id).addEventListener('input', render);
}
$('filters').addEventListener('reset', () => setTimeout(render, 0));
$('filters').addEventListener('submit', (e) => e.preventDefault());
$('run').addEventListener('click', rerun);
$('yaml').addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
    e.preventDefault();
    rerun();
  }
});
// The file as the console first loaded it, into the editor (Run runs it again).
$('revert').addEventListener('click', () => {
  if (original !== null) $('yaml').value = original;
});
load();
