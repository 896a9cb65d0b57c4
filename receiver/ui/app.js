// spanforge web UI: hash-routed views (services, service overview, transactions, trace waterfall,
// errors, metrics) over the receiver's /api. Every piece of event text reaches the page through
// text nodes (el()/textContent), never innerHTML, so `<script>` in a name shows as text.
'use strict';

(() => {
  const main = document.getElementById('main');
  const rangeSelect = document.getElementById('range');
  const liveBadge = document.getElementById('live');
  const SVGNS = 'http://www.w3.org/2000/svg';

  // ---------------------------------------------------------------- DOM helpers (escape-safe)
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    setProps(node, props);
    append(node, children);
    return node;
  }
  function svg(tag, props, ...children) {
    const node = document.createElementNS(SVGNS, tag);
    for (const [k, v] of Object.entries(props || {})) if (v !== undefined && v !== null) node.setAttribute(k, String(v));
    append(node, children);
    return node;
  }
  function setProps(node, props) {
    for (const [k, v] of Object.entries(props || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') node.className = v;
      else if (k === 'text') node.textContent = String(v);
      // CSSOM, not the style attribute: the page's CSP forbids inline style attributes.
      else if (k === 'style') node.style.cssText = v;
      else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, String(v));
    }
  }
  function append(node, children) {
    for (const c of children.flat(Infinity)) {
      if (c === undefined || c === null || c === false) continue;
      node.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
    }
  }
  const link = (href, text, props) => el('a', { href, ...(props || {}) }, text);
  const enc = encodeURIComponent;

  // ---------------------------------------------------------------- formatting
  function fmtUs(us) {
    if (us === null || us === undefined || Number.isNaN(us)) return '–';
    if (us < 1000) return `${Math.round(us)} µs`;
    if (us < 1e6) return `${(us / 1000).toFixed(us < 10000 ? 2 : 1)} ms`;
    return `${(us / 1e6).toFixed(2)} s`;
  }
  const fmtPct = (x) => (x === null || x === undefined ? '–' : `${(x * 100).toFixed(1)} %`);
  const fmtNum = (x, d = 1) => (x === null || x === undefined ? '–' : Number(x).toFixed(d));
  function fmtBytes(b) {
    if (b === null || b === undefined) return '–';
    const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (b >= 1024 && i < u.length - 1) (b /= 1024), i++;
    return `${b.toFixed(i ? 1 : 0)} ${u[i]}`;
  }
  const fmtTime = (us) => (us ? new Date(us / 1000).toLocaleString() : '–');
  const fmtClock = (ms) => new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });

  // ---------------------------------------------------------------- data
  let stats = { firstTs: null, lastTs: null };
  async function api(path, params) {
    const q = new URLSearchParams(params || {});
    const res = await fetch(`/api/${path}${q.toString() ? `?${q}` : ''}`, { headers: { Accept: 'application/json' } });
    if (!res.ok) throw new Error(`${res.status} ${await res.text()}`);
    return res.json();
  }
  function range() {
    const v = rangeSelect.value;
    const now = Date.now();
    if (v === 'all') {
      const from = stats.firstTs ? Math.floor(stats.firstTs / 1000) - 60000 : now - 3600000;
      const to = Math.max(stats.lastTs ? Math.ceil(stats.lastTs / 1000) + 60000 : now, from + 60000);
      return { from: String(from), to: String(to) };
    }
    return { from: String(now - Number(v)), to: String(now) };
  }

  // ---------------------------------------------------------------- charts (inline SVG)
  const PALETTE = ['#2f6fdf', '#d9822b', '#3a9c5a', '#c23a3a', '#8a5cc2', '#1c9aa6', '#b5a100', '#7a7a7a'];
  /**
   * series: [{name, color, points: [{t (ms), v}]}]; fmt formats y values. Gaps (v null) break lines.
   */
  function lineChart(title, series, fmt, opts) {
    const W = 560, H = 180, L = 64, R = 10, T = 10, B = 24;
    const all = series.flatMap((s) => s.points.filter((p) => p.v !== null && p.v !== undefined));
    const box = el('figure', { class: 'chart', 'data-chart': title });
    box.appendChild(el('figcaption', null, title));
    const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': title });
    box.appendChild(root);
    const r = opts && opts.range;
    const tMin = r ? Number(r.from) : Math.min(...all.map((p) => p.t));
    const tMax = r ? Number(r.to) : Math.max(...all.map((p) => p.t));
    let yMax = Math.max(0, ...all.map((p) => p.v));
    if (opts && opts.yMax !== undefined) yMax = Math.max(yMax, opts.yMax);
    if (yMax === 0) yMax = 1;
    const x = (t) => L + ((t - tMin) / Math.max(1, tMax - tMin)) * (W - L - R);
    const y = (v) => T + (1 - v / yMax) * (H - T - B);
    for (const f of [0, 0.5, 1]) {
      root.appendChild(svg('line', { x1: L, x2: W - R, y1: y(yMax * f), y2: y(yMax * f), class: 'grid' }));
      root.appendChild(svg('text', { x: L - 6, y: y(yMax * f) + 4, class: 'axis', 'text-anchor': 'end' }, fmt(yMax * f)));
    }
    root.appendChild(svg('text', { x: L, y: H - 6, class: 'axis' }, fmtClock(tMin)));
    root.appendChild(svg('text', { x: W - R, y: H - 6, class: 'axis', 'text-anchor': 'end' }, fmtClock(tMax)));
    if (all.length === 0) {
      root.appendChild(svg('text', { x: W / 2, y: H / 2, class: 'axis', 'text-anchor': 'middle' }, 'no data in this range'));
    }
    series.forEach((s, i) => {
      const color = s.color || PALETTE[i % PALETTE.length];
      let d = '';
      let pen = false;
      for (const p of s.points) {
        if (p.v === null || p.v === undefined) {
          pen = false;
          continue;
        }
        d += `${pen ? 'L' : 'M'}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`;
        pen = true;
      }
      if (d) root.appendChild(svg('path', { d, stroke: color, fill: 'none', 'stroke-width': 2, 'data-series': s.name }));
      for (const p of s.points) {
        if (p.v === null || p.v === undefined) continue;
        root.appendChild(svg('circle', { cx: x(p.t), cy: y(p.v), r: 2.5, fill: color }, svg('title', {}, `${s.name} ${fmtClock(p.t)}: ${fmt(p.v)}`)));
      }
    });
    box.appendChild(el('div', { class: 'legend' }, series.map((s, i) => el('span', null, el('i', { style: `background:${s.color || PALETTE[i % PALETTE.length]}` }), s.name))));
    return box;
  }

  // ---------------------------------------------------------------- tables
  function table(columns, rows, props) {
    const t = el('table', props || {});
    t.appendChild(el('thead', null, el('tr', null, columns.map((c) => el('th', { class: c.num ? 'num' : '' }, c.title)))));
    const body = el('tbody');
    if (rows.length === 0) body.appendChild(el('tr', null, el('td', { colspan: columns.length, class: 'muted' }, 'No data in this range.')));
    for (const r of rows) body.appendChild(el('tr', null, columns.map((c) => el('td', { class: c.num ? 'num' : '' }, c.render(r)))));
    t.appendChild(body);
    return t;
  }

  // ---------------------------------------------------------------- views
  async function viewServices() {
    const services = await api('services', range());
    return [
      el('h1', null, 'Services'),
      table(
        [
          { title: 'Name', render: (s) => link(`#/service/${enc(s.name)}`, s.name) },
          { title: 'Environment', render: (s) => s.environment || '–' },
          { title: 'Agent', render: (s) => [s.agentName, s.agentVersion].filter(Boolean).join(' ') || '–' },
          { title: 'Throughput', num: true, render: (s) => `${fmtNum(s.tpm)} tpm` },
          { title: 'Avg latency', num: true, render: (s) => fmtUs(s.avgUs) },
          { title: 'p95', num: true, render: (s) => fmtUs(s.p95Us) },
          { title: 'p99', num: true, render: (s) => fmtUs(s.p99Us) },
          { title: 'Failed', num: true, render: (s) => fmtPct(s.failureRate) },
          { title: 'Errors', num: true, render: (s) => (s.errors ? link(`#/errors/${enc(s.name)}`, String(s.errors)) : '0') },
          { title: 'Last seen', render: (s) => fmtTime(s.lastSeen) },
        ],
        services,
        { id: 'services-table' },
      ),
    ];
  }

  function serviceTabs(name, active) {
    const tabs = [
      ['overview', `#/service/${enc(name)}`, 'Overview'],
      ['errors', `#/errors/${enc(name)}`, 'Errors'],
      ['metrics', `#/service/${enc(name)}/metrics`, 'Metrics'],
    ];
    return el('div', { class: 'tabs' }, tabs.map(([k, h, t]) => link(h, t, { class: k === active ? 'active' : '' })));
  }

  async function viewService(name) {
    const r = range();
    const [charts, groups, latest] = await Promise.all([
      api(`services/${enc(name)}/charts`, r),
      api(`services/${enc(name)}/transactions`, r),
      api(`services/${enc(name)}/samples`, r),
    ]);
    const pts = charts.points;
    const ser = (key, scale) => pts.map((p) => ({ t: p.t, v: p[key] === null ? null : p[key] * (scale || 1) }));
    return [
      el('h1', null, name),
      serviceTabs(name, 'overview'),
      el(
        'div',
        { class: 'charts' },
        lineChart('Throughput', [{ name: 'transactions per minute', points: ser('tpm') }], (v) => `${fmtNum(v)} tpm`, { range: r }),
        lineChart(
          'Latency',
          [
            { name: 'avg', points: ser('avgUs') },
            { name: 'p95', points: ser('p95Us') },
            { name: 'p99', points: ser('p99Us') },
          ],
          fmtUs,
          { range: r },
        ),
        lineChart('Failed transaction rate', [{ name: 'failed', color: '#c23a3a', points: ser('failureRate') }], fmtPct, { range: r, yMax: 0.01 }),
      ),
      el('h2', null, 'Transactions'),
      table(
        [
          { title: 'Name', render: (g) => link(`#/service/${enc(name)}/tx/${enc(g.name)}`, g.name || '(unnamed)') },
          { title: 'Type', render: (g) => g.type },
          { title: 'Count', num: true, render: (g) => String(g.count) },
          { title: 'Throughput', num: true, render: (g) => `${fmtNum(g.tpm)} tpm` },
          { title: 'Avg', num: true, render: (g) => fmtUs(g.avgUs) },
          { title: 'p95', num: true, render: (g) => fmtUs(g.p95Us) },
          { title: 'p99', num: true, render: (g) => fmtUs(g.p99Us) },
          { title: 'Failed', num: true, render: (g) => fmtPct(g.failureRate) },
          { title: 'Impact', render: (g) => el('span', { class: 'impact' }, el('i', { style: `width:${Math.max(2, g.impact).toFixed(0)}%` })) },
        ],
        groups,
        { id: 'transactions-table' },
      ),
      el('h2', null, 'Recent transactions'),
      table(
        [
          { title: 'Time', render: (s) => fmtTime(s.ts) },
          { title: 'Name', render: (s) => s.name },
          { title: 'Duration', num: true, render: (s) => fmtUs(s.durationUs) },
          { title: 'Result', render: (s) => s.result || '–' },
          { title: 'Outcome', render: (s) => el('span', { class: `outcome ${s.outcome || ''}` }, s.outcome || '–') },
          { title: 'Trace', render: (s) => link(`#/trace/${enc(s.traceId)}`, s.traceId) },
        ],
        latest.slice(0, 10),
        { id: 'recent-table' },
      ),
    ];
  }

  async function viewTransaction(service, name) {
    const samples = await api(`services/${enc(service)}/samples`, { ...range(), name });
    return [
      el('h1', null, name),
      el('p', { class: 'crumbs' }, link(`#/service/${enc(service)}`, service), ' › transaction samples'),
      table(
        [
          { title: 'Time', render: (s) => fmtTime(s.ts) },
          { title: 'Duration', num: true, render: (s) => fmtUs(s.durationUs) },
          { title: 'Result', render: (s) => s.result || '–' },
          { title: 'Outcome', render: (s) => el('span', { class: `outcome ${s.outcome || ''}` }, s.outcome || '–') },
          { title: 'Trace', render: (s) => link(`#/trace/${enc(s.traceId)}`, s.traceId) },
        ],
        samples,
        { id: 'samples-table' },
      ),
    ];
  }

  // Waterfall colours. Bars are coloured by what the item is (transaction or span type); the
  // service is marked separately (row border + label) with its own palette. The two palettes
  // share no colour, so a db span of one service never looks like another service's bar.
  const TYPE_COLORS = {
    transaction: '#6b7a99',
    db: '#f0a030',
    external: '#4ea8e8',
    app: '#7cc46a',
    cache: '#c084e0',
    messaging: '#3fc4b8',
    template: '#e6cf3a',
    custom: '#f08a8a',
    other: '#b8bec7',
  };
  const SERVICE_COLORS = ['#1d3557', '#8d0801', '#2d6a4f', '#5a189a', '#7f5539', '#005f73', '#3d405b', '#9c6644'];
  function typeKey(kind, type) {
    if (kind === 'transaction') return 'transaction';
    const main = String(type || '').split('.')[0];
    return Object.prototype.hasOwnProperty.call(TYPE_COLORS, main) && main !== 'transaction' ? main : 'other';
  }
  function codeLocation(ev) {
    const f = Array.isArray(ev.stacktrace) ? ev.stacktrace.find((fr) => fr && !fr.library_frame) || ev.stacktrace[0] : null;
    if (!f) return null;
    const file = f.filename || f.abs_path || f.classname || '?';
    return `${f.function || '<anonymous>'} (${file}${f.lineno ? `:${f.lineno}` : ''}${f.colno ? `:${f.colno}` : ''})`;
  }

  async function viewTrace(traceId) {
    const data = await api(`traces/${enc(traceId)}`);
    const items = [];
    const txById = new Map();
    for (const t of data.transactions) {
      const ev = t.event;
      const item = { kind: 'transaction', id: ev.id, parent: ev.parent_id, start: ev.timestamp || t.ts, dur: (ev.duration || 0) * 1000, ev, service: t.service };
      txById.set(ev.id, item);
      items.push(item);
    }
    for (const s of data.spans) {
      const ev = s.event;
      let start = ev.timestamp;
      if (typeof start !== 'number') {
        const tx = txById.get(ev.transaction_id);
        start = (tx ? tx.start : s.ts) + (ev.start || 0) * 1000;
      }
      items.push({ kind: 'span', id: ev.id, parent: ev.parent_id, start, dur: (ev.duration || 0) * 1000, ev, service: s.service });
    }
    if (items.length === 0) return [el('h1', null, 'Trace'), el('p', { class: 'muted' }, `No transactions or spans stored for trace ${traceId}.`)];
    const ids = new Set(items.map((i) => i.id));
    const children = new Map();
    const roots = [];
    for (const it of items) {
      if (it.parent && ids.has(it.parent) && it.parent !== it.id) {
        if (!children.has(it.parent)) children.set(it.parent, []);
        children.get(it.parent).push(it);
      } else roots.push(it);
    }
    const ordered = [];
    const seen = new Set();
    const walk = (it, depth) => {
      if (seen.has(it)) return;
      seen.add(it);
      ordered.push({ it, depth });
      for (const c of (children.get(it.id) || []).sort((a, b) => a.start - b.start)) walk(c, depth + 1);
    };
    roots.sort((a, b) => a.start - b.start).forEach((r) => walk(r, 0));
    const t0 = Math.min(...items.map((i) => i.start));
    const t1 = Math.max(...items.map((i) => i.start + i.dur));
    const total = Math.max(1, t1 - t0);
    const services = [...new Set(items.map((i) => i.service))];
    const svcColor = new Map(services.map((s, i) => [s, SERVICE_COLORS[i % SERVICE_COLORS.length]]));
    const typeOrder = Object.keys(TYPE_COLORS);
    const types = [...new Set(items.map((i) => typeKey(i.kind, i.ev.type)))].sort((a, b) => typeOrder.indexOf(a) - typeOrder.indexOf(b));
    const errorsByParent = new Map();
    for (const e of data.errors) {
      const p = e.event.parent_id || e.event.transaction_id;
      if (!errorsByParent.has(p)) errorsByParent.set(p, []);
      errorsByParent.get(p).push(e);
    }
    const rows = ordered.map(({ it, depth }) => {
      const ev = it.ev;
      const tkey = typeKey(it.kind, ev.type);
      const color = TYPE_COLORS[tkey];
      const sColor = svcColor.get(it.service);
      const ctx = ev.context || {};
      const details = [];
      const typeLabel = [ev.type, ev.subtype, ev.action].filter(Boolean).join('.');
      details.push(el('span', { class: 'svc', 'data-service': it.service, style: `border-color:${sColor};color:${sColor}` }, it.service));
      details.push(el('span', { class: 'badge', style: `border-color:${color}` }, el('i', { style: `background:${color}` }), it.kind === 'transaction' ? `transaction · ${typeLabel || 'unknown'}` : typeLabel || 'span'));
      details.push(el('span', { class: 'dur' }, fmtUs(it.dur)));
      if (it.kind === 'transaction' && ev.result) details.push(el('span', null, ev.result));
      if (ev.outcome === 'failure') details.push(el('span', { class: 'outcome failure' }, 'failure'));
      if (ctx.db && ctx.db.statement) details.push(el('code', { class: 'stmt' }, ctx.db.statement));
      if (ctx.http && (ctx.http.url || ctx.http.status_code || (ctx.http.response && ctx.http.response.status_code))) {
        const status = (ctx.http.response && ctx.http.response.status_code) || ctx.http.status_code;
        details.push(el('span', { class: 'http' }, [ctx.http.method, ctx.http.url, status ? `→ ${status}` : ''].filter(Boolean).join(' ')));
      }
      if (it.kind === 'transaction' && ctx.request && ctx.request.url) {
        const status = ctx.response && ctx.response.status_code;
        details.push(el('span', { class: 'http' }, [ctx.request.method, ctx.request.url.full || ctx.request.url.pathname, status ? `→ ${status}` : ''].filter(Boolean).join(' ')));
      }
      const loc = codeLocation(ev);
      if (loc) details.push(el('span', { class: 'loc' }, loc));
      const errs = errorsByParent.get(it.id) || [];
      for (const e of errs) details.push(link(`#/error/${enc(e.groupKey)}`, `⚠ ${(e.event.exception && e.event.exception.type) || 'error'}`, { class: 'err-mark' }));
      const left = ((it.start - t0) / total) * 100;
      const width = Math.max(0.3, (it.dur / total) * 100);
      return el(
        'div',
        { class: `wf-row ${it.kind}`, 'data-kind': it.kind, 'data-id': it.id, 'data-type': tkey, style: `border-left-color:${sColor}` },
        el(
          'div',
          { class: 'wf-label', style: `padding-left:${depth * 14 + 4}px` },
          el('div', { class: 'wf-name' }, ev.name || '(unnamed)'),
          el('div', { class: 'wf-details' }, details),
        ),
        el('div', { class: 'wf-track' }, el('div', { class: 'wf-bar', 'data-type': tkey, style: `left:${left.toFixed(3)}%;width:${width.toFixed(3)}%;background:${color}`, title: `${ev.name || ''} (${tkey}, ${it.service}) ${fmtUs(it.dur)}` })),
      );
    });
    const root = items.find((i) => i.kind === 'transaction' && !ids.has(i.parent)) || items[0];
    return [
      el('h1', null, root.ev.name || 'Trace'),
      el('p', { class: 'crumbs' }, link(`#/service/${enc(root.service)}`, root.service), ` › trace ${traceId} · ${items.length} items · ${fmtUs(total)}`),
      el('div', { class: 'legend', id: 'wf-legend-services' }, el('b', null, 'Services'), services.map((s) => el('span', { 'data-service': s }, el('i', { class: 'svc-mark', style: `background:${svcColor.get(s)}` }), s))),
      el('div', { class: 'legend', id: 'wf-legend-types' }, el('b', null, 'Types'), types.map((t) => el('span', { 'data-type': t }, el('i', { style: `background:${TYPE_COLORS[t]}` }), t))),
      el(
        'div',
        { class: 'waterfall', id: 'waterfall' },
        el('div', { class: 'wf-row wf-axis' }, el('div', { class: 'wf-label' }, ''), el('div', { class: 'wf-track' }, el('span', null, '0'), el('span', { class: 'end' }, fmtUs(total)))),
        rows,
      ),
      el('h2', null, `Errors in this trace (${data.errors.length})`),
      table(
        [
          { title: 'Type', render: (e) => link(`#/error/${enc(e.groupKey)}`, (e.event.exception && e.event.exception.type) || 'log') },
          { title: 'Message', render: (e) => (e.event.exception && e.event.exception.message) || (e.event.log && e.event.log.message) || '' },
          { title: 'Service', render: (e) => e.service },
          { title: 'Time', render: (e) => fmtTime(e.ts) },
        ],
        data.errors,
        { id: 'trace-errors' },
      ),
    ];
  }

  async function viewErrors(service) {
    const params = range();
    if (service) params.service = service;
    const groups = await api('errors', params);
    return [
      el('h1', null, service ? `${service} · errors` : 'Errors'),
      service ? serviceTabs(service, 'errors') : null,
      table(
        [
          { title: 'Type', render: (g) => link(`#/error/${enc(g.groupKey)}`, g.type) },
          { title: 'Message', render: (g) => g.message },
          { title: 'Culprit', render: (g) => el('code', null, g.culprit || '–') },
          { title: 'Service', render: (g) => g.service },
          { title: 'Handled', render: (g) => (g.handled === null ? '–' : g.handled ? 'yes' : 'no') },
          { title: 'Occurrences', num: true, render: (g) => String(g.count) },
          { title: 'Last seen', render: (g) => fmtTime(g.lastSeen) },
        ],
        groups,
        { id: 'errors-table' },
      ),
    ];
  }

  function stackTrace(frames) {
    if (!Array.isArray(frames) || frames.length === 0) return el('p', { class: 'muted' }, 'No stack trace.');
    return el(
      'ol',
      { class: 'stack' },
      frames.map((f) => {
        const where = `${f.filename || f.abs_path || f.classname || '?'}${f.lineno ? `:${f.lineno}` : ''}${f.colno ? `:${f.colno}` : ''}`;
        const li = el('li', { class: f.library_frame ? 'library' : 'app' }, el('div', { class: 'frame' }, el('b', null, f.function || '<anonymous>'), ' at ', el('code', null, where)));
        if (f.context_line !== undefined && f.context_line !== null) {
          const pre = f.pre_context || [];
          const post = f.post_context || [];
          const first = (f.lineno || pre.length + 1) - pre.length;
          const lines = [...pre.map((t) => [t, false]), [f.context_line, true], ...post.map((t) => [t, false])];
          li.appendChild(
            el(
              'pre',
              { class: 'source' },
              lines.map(([t, cur], i) => el('div', { class: cur ? 'cur' : '' }, el('span', { class: 'ln' }, String(first + i)), String(t))),
            ),
          );
        }
        return li;
      }),
    );
  }

  /** Steps without occurrences are 0, so the chart reads as a count over time. */
  function occurrencePoints(g, r) {
    const stepMs = g.stepSeconds * 1000;
    const counts = new Map(g.series.map((p) => [p.t, p.count]));
    const points = [];
    for (let t = Math.floor(Number(r.from) / stepMs) * stepMs; t <= Number(r.to); t += stepMs) points.push({ t, v: counts.get(t) || 0 });
    return points;
  }

  async function viewError(key) {
    const r = range();
    const g = await api(`errors/${enc(key)}`, r);
    const ev = g.latest.event;
    const exc = ev.exception || {};
    const parts = [
      el('h1', null, g.type),
      el('p', { class: 'crumbs' }, link(`#/errors/${enc(g.service)}`, g.service), ' › error group'),
      el(
        'dl',
        { class: 'facts' },
        el('dt', null, 'Message'),
        el('dd', { id: 'error-message' }, g.message || '–'),
        el('dt', null, 'Culprit'),
        el('dd', null, el('code', null, g.culprit || '–')),
        el('dt', null, 'Occurrences'),
        el('dd', { id: 'error-count' }, String(g.count)),
        el('dt', null, 'First / last seen'),
        el('dd', null, `${fmtTime(g.firstSeen)} / ${fmtTime(g.lastSeen)}`),
        el('dt', null, 'Handled'),
        el('dd', null, exc.handled === undefined || exc.handled === null ? '–' : exc.handled ? 'yes' : 'no'),
        el('dt', null, 'Trace'),
        el('dd', null, g.latest.traceId ? link(`#/trace/${enc(g.latest.traceId)}`, g.latest.traceId) : '–'),
      ),
      el(
        'div',
        { class: 'charts' },
        lineChart('Occurrences', [{ name: `per ${g.stepSeconds >= 3600 ? `${g.stepSeconds / 3600} h` : `${g.stepSeconds / 60} min`}`, color: '#c23a3a', points: occurrencePoints(g, r) }], (v) => fmtNum(v, v < 10 ? 1 : 0), { range: r }),
      ),
      el('h2', null, 'Stack trace'),
      stackTrace(exc.stacktrace || (ev.log && ev.log.stacktrace)),
    ];
    for (const c of exc.cause || []) {
      parts.push(el('h3', null, `Caused by ${c.type || ''}: ${c.message || ''}`), stackTrace(c.stacktrace));
    }
    parts.push(
      el('h2', null, 'Recent occurrences'),
      table(
        [
          { title: 'Time', render: (o) => fmtTime(o.ts) },
          { title: 'Message', render: (o) => o.message },
          { title: 'Trace', render: (o) => (o.traceId ? link(`#/trace/${enc(o.traceId)}`, o.traceId) : '–') },
        ],
        g.occurrences,
        { id: 'occurrences' },
      ),
    );
    return parts;
  }

  async function viewMetrics(service) {
    const r = range();
    const m = await api(`services/${enc(service)}/metrics`, r);
    const s = (name, scale) => (m.series[name] || []).map((p) => ({ t: p.t, v: p.avg * (scale || 1) }));
    const total = m.series['system.memory.total'] || [];
    const free = new Map((m.series['system.memory.actual.free'] || []).map((p) => [p.t, p.avg]));
    const used = total.map((p) => ({ t: p.t, v: free.has(p.t) ? p.avg - free.get(p.t) : null }));
    const known = new Set(Object.keys(m.series));
    return [
      el('h1', null, `${service} · metrics`),
      serviceTabs(service, 'metrics'),
      el(
        'div',
        { class: 'charts' },
        lineChart('CPU usage', [{ name: 'system', points: s('system.cpu.total.norm.pct') }, { name: 'process', points: s('system.process.cpu.total.norm.pct') }], fmtPct, { range: r, yMax: 0.01 }),
        lineChart('Memory', [{ name: 'process RSS', points: s('system.process.memory.rss.bytes') }, { name: 'system used', points: used }], fmtBytes, { range: r }),
        lineChart('Event loop delay', [{ name: 'avg delay', points: s('nodejs.eventloop.delay.avg.ms') }], (v) => `${fmtNum(v, 2)} ms`, { range: r }),
        lineChart('Heap', [{ name: 'used', points: s('nodejs.memory.heap.used.bytes') }, { name: 'allocated', points: s('nodejs.memory.heap.allocated.bytes') }], fmtBytes, { range: r }),
      ),
      el('h2', null, 'All metrics reported by this service'),
      el('p', { class: 'muted', id: 'metric-names' }, m.names.length ? m.names.filter((n) => !known.has(n)).concat(m.names.filter((n) => known.has(n))).join(', ') : 'none yet'),
    ];
  }

  // ---------------------------------------------------------------- router
  function route() {
    const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
    const [a, b, c, d] = parts;
    for (const n of document.querySelectorAll('[data-nav]')) n.classList.toggle('active', n.getAttribute('data-nav') === (a === 'error' ? 'errors' : a || 'services'));
    if (a === 'service' && b && c === 'metrics') return () => viewMetrics(b);
    if (a === 'service' && b && c === 'tx' && d !== undefined) return () => viewTransaction(b, d);
    if (a === 'service' && b) return () => viewService(b);
    if (a === 'trace' && b) return () => viewTrace(b);
    if (a === 'errors') return () => viewErrors(b);
    if (a === 'error' && b) return () => viewError(b);
    return viewServices;
  }

  let rendering = false;
  let again = false;
  async function render() {
    if (rendering) {
      again = true;
      return;
    }
    rendering = true;
    try {
      // Counts scan indexes; only the "all stored data" range needs the stored time bounds.
      if (rangeSelect.value === 'all') stats = await api('stats');
      const nodes = await route()();
      const y = window.scrollY;
      main.replaceChildren(...[nodes].flat().filter(Boolean));
      window.scrollTo(0, y);
      main.setAttribute('data-rendered', String(Date.now()));
    } catch (err) {
      main.replaceChildren(el('p', { class: 'error' }, `Could not load: ${err.message}`));
    } finally {
      rendering = false;
      if (again) {
        again = false;
        render();
      }
    }
  }

  // Live updates: the server pushes "change" (at most once a second) after new events are stored.
  function connectLive() {
    const es = new EventSource('/api/live');
    es.addEventListener('open', () => liveBadge.classList.replace('off', 'on'));
    es.addEventListener('error', () => liveBadge.classList.replace('on', 'off'));
    es.addEventListener('change', () => {
      if (document.visibilityState !== 'hidden') render();
    });
  }

  const saved = localStorage.getItem('spanforge.range');
  if (saved && [...rangeSelect.options].some((o) => o.value === saved)) rangeSelect.value = saved;
  else rangeSelect.value = '3600000';
  rangeSelect.addEventListener('change', () => {
    localStorage.setItem('spanforge.range', rangeSelect.value);
    render();
  });
  window.addEventListener('hashchange', () => {
    window.scrollTo(0, 0);
    render();
  });
  if (!location.hash) location.hash = '#/services';
  render();
  connectLive();
})();
