// spanforge web UI: hash-routed views (services, service overview, transactions with their latency
// distribution, trace waterfall with a detail panel, service map, dependencies, search, errors,
// metrics) over the receiver's /api. Every piece of event text reaches the page through text nodes
// (el()/svg()/textContent), never innerHTML, so `<script>` in a name shows as text.
'use strict';

(() => {
  const main = document.getElementById('main');
  const rangeSelect = document.getElementById('range');
  const liveBadge = document.getElementById('live');
  const panel = document.getElementById('panel');
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
    for (const [k, v] of Object.entries(props || {})) {
      if (v === undefined || v === null) continue;
      if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, String(v));
    }
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
  const fmtDay = (ms) => new Date(ms).toLocaleDateString([], { month: 'short', day: 'numeric' });
  const fmtTpm = (v) => `${fmtNum(v, v !== null && v !== undefined && v < 10 ? 2 : 1)} tpm`;

  // ---------------------------------------------------------------- data
  let stats = { firstTs: null, lastTs: null };
  async function api(path, params) {
    const q = new URLSearchParams(params || {});
    const res = await fetch(`/api/${path}${q.toString() ? `?${q}` : ''}`, { headers: { Accept: 'application/json' } });
    // With a secret token the session may have expired (or the receiver restarted): sign in again.
    if (res.status === 401) {
      location.assign('/ui/login');
      throw new Error('signed out: sign in again');
    }
    if (!res.ok) {
      const err = new Error(`${res.status} ${await res.text()}`);
      err.status = res.status;
      throw err;
    }
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
  /** The range just before `r`, of the same length (for the previous-period comparison). */
  function previousRange(r) {
    const span = Number(r.to) - Number(r.from);
    return { from: String(Number(r.from) - span), to: String(Number(r.from)) };
  }

  // UI state that survives re-renders (live updates re-render the page every second at most).
  const ui = {
    sort: new Map(), // table id → { col, dir }
    compare: localStorage.getItem('spanforge.compare') === '1',
    selection: null, // { key, lo, hi } on a latency distribution (bin indexes)
    panel: null, // { kind, traceId, id, pctOf }
    errorTab: 'exception',
  };

  // ---------------------------------------------------------------- charts (inline SVG)
  const PALETTE = ['#2f6fdf', '#d9822b', '#3a9c5a', '#c23a3a', '#8a5cc2', '#1c9aa6', '#b5a100', '#7a7a7a'];
  /** The drawing width of a chart: the pixel width its grid cell will have, so text renders at its CSS size. */
  function contentWidth() {
    const cs = getComputedStyle(main);
    return main.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
  }
  function chartWidth() {
    const content = contentWidth();
    const cols = Math.max(1, Math.floor((content + 12) / (420 + 12)));
    const cell = (content - 12 * (cols - 1)) / cols;
    return Math.max(240, Math.floor(cell - 22));
  }
  const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880].map((m) => m * 60000);
  /** Tick times: a round step (1 min … 2 days) giving at most `max` ticks, aligned to local time. */
  function timeTicks(tMin, tMax, max) {
    const span = Math.max(1, tMax - tMin);
    const step = TIME_STEPS.find((s) => span / s <= max) || TIME_STEPS[TIME_STEPS.length - 1];
    const off = new Date(tMin).getTimezoneOffset() * 60000;
    const ticks = [];
    for (let t = Math.ceil((tMin - off) / step) * step + off; t <= tMax; t += step) ticks.push(t);
    return { ticks, step };
  }
  /** The first step with data (count > 0), to zoom a chart whose data sits in the last part of the range. */
  function dataStart(points, r) {
    const first = points.find((p) => p.count > 0);
    if (!first) return undefined;
    const from = Number(r.from);
    const span = Number(r.to) - from;
    return first.t - from > span * 0.5 ? first.t : undefined;
  }
  /**
   * series: [{name, color, dash, points: [{t (ms), v}]}]; fmt formats y values. Gaps (v null) break
   * lines. opts: range (the x domain), yMax (minimum top), zoomFrom (start the x axis there instead).
   */
  function lineChart(title, series, fmt, opts) {
    opts = opts || {};
    const W = chartWidth(), H = 210, L = 72, R = 14, T = 12, B = 30;
    const r = opts.range;
    let tMin = r ? Number(r.from) : Math.min(...series.flatMap((s) => s.points.map((p) => p.t)));
    const tMax = r ? Number(r.to) : Math.max(...series.flatMap((s) => s.points.map((p) => p.t)));
    const zoomed = opts.zoomFrom !== undefined && opts.zoomFrom > tMin;
    if (zoomed) tMin = Math.max(tMin, opts.zoomFrom - (opts.stepMs || 60000));
    const inDomain = (p) => p.t >= tMin && p.t <= tMax;
    const all = series.flatMap((s) => s.points.filter((p) => inDomain(p) && p.v !== null && p.v !== undefined));
    const box = el('figure', { class: 'chart', 'data-chart': title });
    box.appendChild(el('figcaption', null, title));
    if (zoomed) box.appendChild(el('div', { class: 'zoom-note' }, `Since ${fmtClock(tMin)}: no data earlier in the range.`));
    const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img', 'aria-label': title });
    box.appendChild(root);
    let yMax = Math.max(0, ...all.map((p) => p.v));
    if (opts.yMax !== undefined) yMax = Math.max(yMax, opts.yMax);
    if (yMax === 0) yMax = 1;
    const x = (t) => L + ((t - tMin) / Math.max(1, tMax - tMin)) * (W - L - R);
    const y = (v) => T + (1 - v / yMax) * (H - T - B);
    for (const f of [0, 0.25, 0.5, 0.75, 1]) {
      root.appendChild(svg('line', { x1: L, x2: W - R, y1: y(yMax * f), y2: y(yMax * f), class: 'grid' }));
      root.appendChild(svg('text', { x: L - 6, y: y(yMax * f) + 4, class: 'axis y', 'text-anchor': 'end' }, fmt(yMax * f)));
    }
    const { ticks } = timeTicks(tMin, tMax, Math.max(2, Math.floor((W - L - R) / 72)));
    const multiDay = tMax - tMin > 36 * 3600000;
    for (const t of ticks) {
      root.appendChild(svg('line', { x1: x(t), x2: x(t), y1: H - B, y2: H - B + 4, class: 'tick' }));
      // Labels near the ends are anchored inwards, so they are never cut off by the chart's edge.
      const anchor = x(t) > W - R - 36 ? 'end' : x(t) < L + 20 ? 'start' : 'middle';
      root.appendChild(svg('text', { x: anchor === 'end' ? W - 2 : x(t), y: H - 10, class: 'axis x', 'text-anchor': anchor }, multiDay ? `${fmtDay(t)} ${fmtClock(t)}` : fmtClock(t)));
    }
    if (all.length === 0) root.appendChild(svg('text', { x: W / 2, y: H / 2, class: 'axis', 'text-anchor': 'middle' }, 'no data in this range'));
    series.forEach((s, i) => {
      const color = s.color || PALETTE[i % PALETTE.length];
      let d = '';
      let pen = false;
      for (const p of s.points) {
        if (!inDomain(p) || p.v === null || p.v === undefined) {
          pen = false;
          continue;
        }
        d += `${pen ? 'L' : 'M'}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`;
        pen = true;
      }
      if (d) root.appendChild(svg('path', { d, stroke: color, fill: 'none', 'stroke-width': 2, 'stroke-dasharray': s.dash ? '5 4' : null, 'data-series': s.name, class: s.dash ? 'previous' : null }));
      if (s.dash) return; // the previous period is a dashed line without points
      for (const p of s.points) {
        if (!inDomain(p) || p.v === null || p.v === undefined) continue;
        root.appendChild(svg('circle', { cx: x(p.t), cy: y(p.v), r: 2.5, fill: color }, svg('title', {}, `${s.name} ${fmtClock(p.t)}: ${fmt(p.v)}`)));
      }
    });
    box.appendChild(el('div', { class: 'legend' }, series.map((s, i) => el('span', { class: s.dash ? 'previous' : null }, el('i', { class: s.dash ? 'dash' : null, style: `background:${s.color || PALETTE[i % PALETTE.length]}` }), s.name))));
    return box;
  }

  // ---------------------------------------------------------------- tables (sortable)
  /** A column's sort key: its `sort` function, else the rendered cell's text. */
  function sortKey(c, r) {
    if (c.sort) return c.sort(r);
    const v = c.render(r);
    return typeof v === 'object' && v !== null ? v.textContent : String(v ?? '');
  }
  function compareKeys(a, b) {
    const an = a === null || a === undefined || a === '' || Number.isNaN(a);
    const bn = b === null || b === undefined || b === '' || Number.isNaN(b);
    if (an || bn) return an && bn ? 0 : an ? 1 : -1; // empty values last in both directions
    if (typeof a === 'number' && typeof b === 'number') return a - b;
    return String(a).localeCompare(String(b), undefined, { numeric: true });
  }
  /**
   * columns: [{title, render(row), sort?(row) (number or string), num?, opt? (hidden on narrow
   * screens), cls?}]. Clicking a header sorts by it (again: reverses); the order survives live
   * re-renders. props.empty replaces the "No data in this range." row.
   */
  function table(columns, rows, props) {
    props = props || {};
    const id = props.id;
    const wrap = el('div', { class: 'table-wrap' });
    const draw = () => {
      const s = id ? ui.sort.get(id) : undefined;
      let shown = rows;
      if (s && columns[s.col]) {
        const c = columns[s.col];
        const keyed = rows.map((r, i) => [sortKey(c, r), i, r]);
        keyed.sort((a, b) => {
          const an = a[0] === null || a[0] === undefined || a[0] === '';
          const bn = b[0] === null || b[0] === undefined || b[0] === '';
          if (an || bn) return an && bn ? a[1] - b[1] : an ? 1 : -1;
          return (s.dir === 'desc' ? -1 : 1) * compareKeys(a[0], b[0]) || a[1] - b[1];
        });
        shown = keyed.map((k) => k[2]);
      }
      const cls = (c) => [c.num ? 'num' : '', c.opt ? 'opt' : '', c.cls || ''].filter(Boolean).join(' ') || null;
      const t = el('table', { id, class: props.class });
      t.appendChild(
        el(
          'thead',
          null,
          el(
            'tr',
            null,
            columns.map((c, i) => {
              const active = s && s.col === i;
              return el(
                'th',
                { class: cls(c), 'aria-sort': active ? (s.dir === 'desc' ? 'descending' : 'ascending') : 'none' },
                el(
                  'button',
                  {
                    type: 'button',
                    class: 'sort',
                    title: `sort by ${c.title}`,
                    onclick: () => {
                      if (!id) return;
                      const cur = ui.sort.get(id);
                      // Numbers sort high first on the first click, text A→Z.
                      const first = c.num ? 'desc' : 'asc';
                      ui.sort.set(id, { col: i, dir: cur && cur.col === i ? (cur.dir === 'asc' ? 'desc' : 'asc') : first });
                      draw();
                    },
                  },
                  c.title,
                  el('span', { class: 'arrow' }, active ? (s.dir === 'desc' ? ' ▼' : ' ▲') : ''),
                ),
              );
            }),
          ),
        ),
      );
      const body = el('tbody');
      if (rows.length === 0) body.appendChild(el('tr', null, el('td', { colspan: columns.length, class: 'muted' }, props.empty || 'No data in this range.')));
      for (const r of shown) body.appendChild(el('tr', props.rowProps ? props.rowProps(r) : null, columns.map((c) => el('td', { class: cls(c) }, c.render(r)))));
      t.appendChild(body);
      wrap.replaceChildren(t);
    };
    draw();
    return wrap;
  }
  const impactBar = (v) => el('span', { class: 'impact', title: `${fmtNum(v, 0)} %` }, el('i', { style: `width:${Math.max(2, v).toFixed(0)}%` }));
  const outcomeCell = (o) => el('span', { class: `outcome ${o || ''}` }, o || '–');
  const traceLink = (id) => (id ? link(`#/trace/${enc(id)}`, id, { class: 'mono' }) : '–');

  // ---------------------------------------------------------------- views
  async function viewServices() {
    const services = await api('services', range());
    return [
      el('h1', null, 'Services'),
      table(
        [
          { title: 'Name', render: (s) => link(`#/service/${enc(s.name)}`, s.name), sort: (s) => s.name },
          { title: 'Environment', render: (s) => s.environment || '–', opt: true },
          { title: 'Agent', render: (s) => [s.agentName, s.agentVersion].filter(Boolean).join(' ') || '–', opt: true },
          { title: 'Throughput', num: true, render: (s) => fmtTpm(s.tpm), sort: (s) => s.tpm },
          { title: 'Avg latency', num: true, render: (s) => fmtUs(s.avgUs), sort: (s) => s.avgUs },
          { title: 'p95', num: true, render: (s) => fmtUs(s.p95Us), sort: (s) => s.p95Us, opt: true },
          { title: 'p99', num: true, render: (s) => fmtUs(s.p99Us), sort: (s) => s.p99Us, opt: true },
          { title: 'Failed', num: true, render: (s) => fmtPct(s.failureRate), sort: (s) => s.failureRate },
          { title: 'Errors', num: true, render: (s) => (s.errors ? link(`#/errors/${enc(s.name)}`, String(s.errors)) : '0'), sort: (s) => s.errors, opt: true },
          { title: 'Last seen', render: (s) => fmtTime(s.lastSeen), sort: (s) => s.lastSeen, opt: true },
        ],
        services,
        { id: 'services-table' },
      ),
    ];
  }

  function serviceTabs(name, active) {
    const tabs = [
      ['overview', `#/service/${enc(name)}`, 'Overview'],
      ['dependencies', `#/service/${enc(name)}/dependencies`, 'Dependencies'],
      ['errors', `#/errors/${enc(name)}`, 'Errors'],
      ['metrics', `#/service/${enc(name)}/metrics`, 'Metrics'],
    ];
    return el('div', { class: 'tabs' }, tabs.map(([k, h, t]) => link(h, t, { class: k === active ? 'active' : '' })));
  }

  /** A shifted copy of the previous period's points, drawn dashed on the same axis. */
  function previousSeries(prev, key, scale, r) {
    if (!prev) return null;
    const shift = Number(r.from) - Number(prev.range.from);
    return { name: 'previous period', color: '#9aa3b2', dash: true, points: prev.charts.points.map((p) => ({ t: p.t + shift, v: p[key] === null ? null : p[key] * (scale || 1) })) };
  }

  function compareToggle() {
    const box = el('input', {
      type: 'checkbox',
      id: 'compare-toggle',
      onchange: () => {
        ui.compare = box.checked;
        localStorage.setItem('spanforge.compare', ui.compare ? '1' : '0');
        render();
      },
    });
    box.checked = ui.compare;
    return el('label', { class: 'toggle' }, box, ' Compare with the previous period');
  }

  async function viewService(name) {
    const r = range();
    const pr = previousRange(r);
    const [charts, groups, latest, prevCharts] = await Promise.all([
      api(`services/${enc(name)}/charts`, r),
      api(`services/${enc(name)}/transactions`, r),
      api(`services/${enc(name)}/samples`, r),
      ui.compare ? api(`services/${enc(name)}/charts`, pr) : null,
    ]);
    const prev = prevCharts ? { charts: prevCharts, range: pr } : null;
    const pts = charts.points;
    const ser = (key, scale) => pts.map((p) => ({ t: p.t, v: p[key] === null ? null : p[key] * (scale || 1) }));
    const zoom = { range: r, zoomFrom: dataStart(pts, r), stepMs: charts.stepSeconds * 1000 };
    return [
      el('h1', null, name),
      serviceTabs(name, 'overview'),
      compareToggle(),
      el(
        'div',
        { class: 'charts' },
        lineChart('Throughput', [{ name: 'transactions per minute', points: ser('tpm') }, previousSeries(prev, 'tpm', 1, r)].filter(Boolean), fmtTpm, zoom),
        lineChart(
          'Latency',
          [{ name: 'avg', points: ser('avgUs') }, { name: 'p95', points: ser('p95Us') }, { name: 'p99', points: ser('p99Us') }, previousSeries(prev, 'avgUs', 1, r)].filter(Boolean).map((s) =>
            s.dash ? { ...s, name: 'avg, previous period' } : s,
          ),
          fmtUs,
          zoom,
        ),
        lineChart('Failed transaction rate', [{ name: 'failed', color: '#c23a3a', points: ser('failureRate') }, previousSeries(prev, 'failureRate', 1, r)].filter(Boolean), fmtPct, { ...zoom, yMax: 0.01 }),
      ),
      el('h2', null, 'Transactions'),
      table(
        [
          { title: 'Name', render: (g) => link(`#/service/${enc(name)}/tx/${enc(g.name)}`, g.name || '(unnamed)'), sort: (g) => g.name },
          { title: 'Type', render: (g) => g.type, opt: true },
          { title: 'Count', num: true, render: (g) => String(g.count), sort: (g) => g.count, opt: true },
          { title: 'Throughput', num: true, render: (g) => fmtTpm(g.tpm), sort: (g) => g.tpm },
          { title: 'Avg', num: true, render: (g) => fmtUs(g.avgUs), sort: (g) => g.avgUs },
          { title: 'p95', num: true, render: (g) => fmtUs(g.p95Us), sort: (g) => g.p95Us, opt: true },
          { title: 'p99', num: true, render: (g) => fmtUs(g.p99Us), sort: (g) => g.p99Us, opt: true },
          { title: 'Failed', num: true, render: (g) => fmtPct(g.failureRate), sort: (g) => g.failureRate },
          { title: 'Impact', render: (g) => impactBar(g.impact), sort: (g) => g.impact, opt: true },
        ],
        groups,
        { id: 'transactions-table' },
      ),
      el('h2', null, 'Recent transactions'),
      table(
        [
          { title: 'Time', render: (s) => fmtTime(s.ts), sort: (s) => s.ts, opt: true },
          { title: 'Name', render: (s) => s.name },
          { title: 'Duration', num: true, render: (s) => fmtUs(s.durationUs), sort: (s) => s.durationUs },
          { title: 'Result', render: (s) => s.result || '–', opt: true },
          { title: 'Outcome', render: (s) => outcomeCell(s.outcome) },
          { title: 'Trace', render: (s) => traceLink(s.traceId), cls: 'id' },
        ],
        latest.slice(0, 10),
        { id: 'recent-table' },
      ),
    ];
  }

  // ---------------------------------------------------------------- latency distribution
  /** A histogram of the group's durations; dragging over (or clicking) bars selects a range of them. */
  function histogram(dist, key, onSelect) {
    const W = Math.max(240, Math.floor(contentWidth() - 22)), H = 210, L = 56, R = 12, T = 12, B = 44;
    const bins = dist.bins;
    const box = el('figure', { class: 'chart wide', 'data-chart': 'Latency distribution' });
    box.appendChild(el('figcaption', null, `Latency distribution · ${dist.count} transactions`));
    const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img', 'aria-label': 'latency distribution', id: 'distribution' });
    box.appendChild(root);
    if (bins.length === 0) {
      root.appendChild(svg('text', { x: W / 2, y: H / 2, class: 'axis', 'text-anchor': 'middle' }, 'no transactions in this range'));
      return box;
    }
    const yMax = Math.max(1, ...bins.map((b) => b.count));
    const bw = (W - L - R) / bins.length;
    const y = (v) => T + (1 - v / yMax) * (H - T - B);
    for (const f of [0, 0.5, 1]) {
      root.appendChild(svg('line', { x1: L, x2: W - R, y1: y(yMax * f), y2: y(yMax * f), class: 'grid' }));
      root.appendChild(svg('text', { x: L - 6, y: y(yMax * f) + 4, class: 'axis y', 'text-anchor': 'end' }, fmtNum(yMax * f, yMax * f < 10 && f ? 1 : 0)));
    }
    const sel = ui.selection && ui.selection.key === key ? ui.selection : null;
    const labelEvery = Math.max(1, Math.ceil(bins.length / Math.max(2, Math.floor((W - L - R) / 80))));
    bins.forEach((b, i) => {
      const selected = sel && i >= sel.lo && i <= sel.hi;
      const rect = svg(
        'rect',
        { x: L + i * bw + 1, y: y(b.count), width: Math.max(1, bw - 2), height: H - B - y(b.count), class: `bin${selected ? ' selected' : ''}`, 'data-bin': i, 'data-count': b.count },
        svg('title', {}, `${fmtUs(b.fromUs)} – ${fmtUs(b.toUs)}: ${b.count}`),
      );
      // A transparent full-height target per bin, so empty bins can start or end a selection.
      const hit = svg('rect', { x: L + i * bw, y: T, width: bw, height: H - T - B, class: 'bin-hit', 'data-bin': i });
      root.appendChild(rect);
      root.appendChild(hit);
      if (i % labelEvery === 0) root.appendChild(svg('text', { x: L + i * bw + bw / 2, y: H - B + 16, class: 'axis x', 'text-anchor': 'middle' }, fmtUs(b.midUs)));
    });
    root.appendChild(svg('text', { x: (L + W - R) / 2, y: H - 6, class: 'axis', 'text-anchor': 'middle' }, 'duration (drag over bars to list those traces)'));
    let start = null;
    const binAt = (ev) => {
      const t = ev.target;
      return t && t.getAttribute && t.getAttribute('data-bin') !== null ? Number(t.getAttribute('data-bin')) : null;
    };
    root.addEventListener('pointerdown', (ev) => {
      start = binAt(ev);
      ev.preventDefault();
    });
    root.addEventListener('pointerup', (ev) => {
      const end = binAt(ev);
      if (start === null) return;
      const a = Math.min(start, end === null ? start : end);
      const b = Math.max(start, end === null ? start : end);
      start = null;
      onSelect(a, b);
    });
    return box;
  }

  async function viewTransaction(service, name) {
    const r = range();
    const key = `${service}\0${name}`;
    const [dist, samples] = await Promise.all([api(`services/${enc(service)}/distribution`, { ...r, name }), api(`services/${enc(service)}/samples`, { ...r, name })]);
    const sel = ui.selection && ui.selection.key === key && dist.bins[ui.selection.lo] && dist.bins[ui.selection.hi] ? ui.selection : null;
    let selected = null;
    if (sel) {
      const minUs = dist.bins[sel.lo].fromUs;
      const maxUs = dist.bins[sel.hi].toUs;
      const found = await api('search', { ...r, service, name, minUs: String(minUs), maxUs: String(maxUs), limit: '100' });
      selected = { minUs, maxUs, found };
    }
    const sampleCols = [
      { title: 'Time', render: (s) => fmtTime(s.ts), sort: (s) => s.ts },
      { title: 'Duration', num: true, render: (s) => fmtUs(s.durationUs), sort: (s) => s.durationUs },
      { title: 'Result', render: (s) => s.result || '–', opt: true },
      { title: 'Outcome', render: (s) => outcomeCell(s.outcome) },
      { title: 'Trace', render: (s) => traceLink(s.traceId), cls: 'id' },
    ];
    return [
      el('h1', null, name),
      el('p', { class: 'crumbs' }, link(`#/service/${enc(service)}`, service), ' › transaction'),
      histogram(dist, key, (lo, hi) => {
        ui.selection = { key, lo, hi };
        render();
      }),
      selected
        ? el(
            'div',
            { id: 'dist-selection' },
            el('h2', null, `Traces from ${fmtUs(selected.minUs)} to ${fmtUs(selected.maxUs)} (${selected.found.rows.length}${selected.found.rows.length >= selected.found.limit ? '+' : ''})`),
            el('button', { type: 'button', id: 'clear-selection', onclick: () => ((ui.selection = null), render()) }, 'Clear selection'),
            table(sampleCols, selected.found.rows, { id: 'dist-traces', empty: 'No transactions in this latency range.' }),
          )
        : null,
      el('h2', null, 'Transaction samples'),
      table(sampleCols, samples, { id: 'samples-table' }),
    ];
  }

  // ---------------------------------------------------------------- trace waterfall
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
    const m = String(type || '').split('.')[0];
    return Object.prototype.hasOwnProperty.call(TYPE_COLORS, m) && m !== 'transaction' ? m : 'other';
  }
  function codeLocation(ev) {
    const f = Array.isArray(ev.stacktrace) ? ev.stacktrace.find((fr) => fr && !fr.library_frame) || ev.stacktrace[0] : null;
    if (!f) return null;
    const file = f.filename || f.abs_path || f.classname || '?';
    return `${f.function || '<anonymous>'} (${file}${f.lineno ? `:${f.lineno}` : ''}${f.colno ? `:${f.colno}` : ''})`;
  }

  /** The log events of a trace (intake v2 `log`), oldest first, each linked to its span's row. */
  function traceLogs(logs, truncated, names) {
    if (logs.length === 0) return el('p', { class: 'muted', id: 'trace-no-logs' }, 'No log events were recorded in this trace.');
    return [
      el('h2', null, `Logs in this trace (${logs.length}${truncated ? '+' : ''})`),
      table(
        [
          { title: 'Time', render: (l) => fmtLogTime(l.ts), sort: (l) => l.ts },
          { title: 'Level', render: (l) => el('span', { class: `log-level ${logLevelClass(l.level)}` }, l.level || '–'), sort: (l) => l.level || '' },
          { title: 'Service', render: (l) => l.service, opt: true },
          { title: 'Message', render: (l) => el('span', { class: 'log-msg' }, l.message || ''), sort: (l) => l.message || '' },
          {
            title: 'Span',
            render: (l) => {
              const id = l.spanId || l.transactionId;
              const item = id && names.get(id);
              return item ? link('#', item.name, { class: 'log-span', 'data-span-id': id, onclick: (e) => (e.preventDefault(), openPanel(item.target)) }) : id ? el('span', { class: 'mono' }, id) : '–';
            },
            sort: (l) => l.spanId || '',
            opt: true,
          },
        ],
        logs,
        { id: 'trace-logs', rowProps: (l) => ({ 'data-span-id': l.spanId || l.transactionId || null, 'data-level': l.level || null }) },
      ),
      truncated ? el('p', { class: 'muted' }, `Only the first ${logs.length} log events are shown.`) : null,
    ];
  }
  const fmtLogTime = (us) => {
    if (!us) return '–';
    const d = new Date(us / 1000);
    return `${d.toLocaleTimeString([], { hour12: false })}.${String(d.getMilliseconds()).padStart(3, '0')}`;
  };
  const logLevelClass = (lv) => {
    const v = String(lv || '').toLowerCase();
    return /^(error|fatal|crit|alert|emerg|panic)/.test(v) ? 'bad' : /^warn/.test(v) ? 'warn' : '';
  };

  async function viewTrace(traceId) {
    const [data, logData] = await Promise.all([
      api(`traces/${enc(traceId)}`),
      api(`traces/${enc(traceId)}/logs`).catch(() => ({ logs: [] })),
    ]);
    const logs = logData.logs || [];
    const logsBySpan = new Map();
    for (const l of logs) {
      const id = l.spanId || l.transactionId;
      if (id) logsBySpan.set(id, (logsBySpan.get(id) || 0) + 1);
    }
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
    if (items.length === 0) return [el('h1', null, 'Trace'), el('p', { class: 'muted' }, `No transactions or spans stored for trace ${traceId}.`), traceLogs(logs, logData.truncated, new Map())];
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
    // Depth-first, children by start time, with an explicit stack: a trace may chain thousands of
    // spans parent to child, and recursion would overflow the page's stack.
    const stack = roots
      .sort((a, b) => a.start - b.start)
      .reverse()
      .map((r) => [r, 0]);
    while (stack.length > 0) {
      const [it, depth] = stack.pop();
      if (seen.has(it)) continue;
      seen.add(it);
      ordered.push({ it, depth });
      const kids = (children.get(it.id) || []).slice().sort((a, b) => a.start - b.start);
      for (let i = kids.length - 1; i >= 0; i--) stack.push([kids[i], depth + 1]);
    }
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
      if (ev.composite && ev.composite.count) details.push(el('span', { class: 'composite' }, `×${ev.composite.count}`));
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
      const nLogs = logsBySpan.get(it.id);
      if (nLogs) details.push(el('span', { class: 'log-mark', title: 'log events written under it (listed below the waterfall)' }, `☰ ${nLogs} log${nLogs > 1 ? 's' : ''}`));
      const left = ((it.start - t0) / total) * 100;
      const width = Math.max(0.3, (it.dur / total) * 100);
      const target = { kind: it.kind, traceId, id: it.id, offsetUs: it.start - t0, totalUs: total };
      const open = (ev2) => {
        if (ev2.target.closest && ev2.target.closest('a')) return; // links inside the row keep working
        openPanel(target);
      };
      return el(
        'div',
        {
          class: `wf-row ${it.kind}${ui.panel && ui.panel.id === it.id ? ' open' : ''}`,
          'data-kind': it.kind,
          'data-id': it.id,
          'data-type': tkey,
          style: `border-left-color:${sColor}`,
          tabindex: 0,
          role: 'button',
          'aria-label': `details of ${it.kind} ${ev.name || ''}`,
          onclick: open,
          onkeydown: (k) => {
            if (k.key === 'Enter' || k.key === ' ') {
              k.preventDefault();
              openPanel(target);
            }
          },
        },
        el('div', { class: 'wf-label', style: `padding-left:${Math.min(depth, 12) * 14 + 4}px` }, el('div', { class: 'wf-name' }, ev.name || '(unnamed)'), el('div', { class: 'wf-details' }, details)),
        el('div', { class: 'wf-track' }, el('div', { class: 'wf-bar', 'data-type': tkey, style: `left:${left.toFixed(3)}%;width:${width.toFixed(3)}%;background:${color}`, title: `${ev.name || ''} (${tkey}, ${it.service}) ${fmtUs(it.dur)}` })),
      );
    });
    const root = items.find((i) => i.kind === 'transaction' && !ids.has(i.parent)) || items[0];
    const axisTicks = [0, 0.25, 0.5, 0.75, 1].map((f) => el('span', { class: f === 1 ? 'end' : f === 0 ? null : 'mid', style: f > 0 && f < 1 ? `left:${f * 100}%` : null }, f === 0 ? '0' : fmtUs(total * f)));
    return [
      el('h1', null, root.ev.name || 'Trace'),
      el('p', { class: 'crumbs' }, link(`#/service/${enc(root.service)}`, root.service), ` › trace `, el('span', { class: 'mono' }, traceId), ` · ${items.length} items · ${fmtUs(total)}`),
      el('div', { class: 'legend', id: 'wf-legend-services' }, el('b', null, 'Services'), services.map((s) => el('span', { 'data-service': s }, el('i', { class: 'svc-mark', style: `background:${svcColor.get(s)}` }), s))),
      el('div', { class: 'legend', id: 'wf-legend-types' }, el('b', null, 'Types'), types.map((t) => el('span', { 'data-type': t }, el('i', { style: `background:${TYPE_COLORS[t]}` }), t))),
      el('p', { class: 'muted hint' }, 'Click a row for all its fields.'),
      el('div', { class: 'waterfall', id: 'waterfall' }, el('div', { class: 'wf-row wf-axis' }, el('div', { class: 'wf-label' }, ''), el('div', { class: 'wf-track' }, axisTicks)), rows),
      traceLogs(logs, logData.truncated, new Map(items.map((i) => [i.id, { name: i.ev.name || '(unnamed)', target: { kind: i.kind, traceId, id: i.id, offsetUs: i.start - t0, totalUs: total } }]))),
      data.errors.length
        ? [
            el('h2', null, `Errors in this trace (${data.errors.length})`),
            table(
              [
                { title: 'Type', render: (e) => link(`#/error/${enc(e.groupKey)}`, (e.event.exception && e.event.exception.type) || 'log') },
                { title: 'Message', render: (e) => (e.event.exception && e.event.exception.message) || (e.event.log && e.event.log.message) || '' },
                { title: 'Service', render: (e) => e.service, opt: true },
                { title: 'Time', render: (e) => fmtTime(e.ts), sort: (e) => e.ts, opt: true },
              ],
              data.errors,
              { id: 'trace-errors' },
            ),
          ]
        : el('p', { class: 'muted', id: 'trace-no-errors' }, 'No errors were recorded in this trace.'),
    ];
  }

  // ---------------------------------------------------------------- detail panel (flyout)
  /** [key, value] rows of an object flattened to dotted paths (arrays of scalars joined). */
  function flatten(obj, prefix, out) {
    out = out || [];
    if (obj === null || obj === undefined) return out;
    if (typeof obj !== 'object') {
      out.push([prefix, obj]);
      return out;
    }
    if (Array.isArray(obj)) {
      if (obj.every((v) => v === null || typeof v !== 'object')) out.push([prefix, obj.map(String).join(', ')]);
      else obj.forEach((v, i) => flatten(v, `${prefix}[${i}]`, out));
      return out;
    }
    for (const [k, v] of Object.entries(obj)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
    return out;
  }
  /** A dotted field path with line-break opportunities after its separators (never inside a word). */
  function breakable(k) {
    const parts = String(k).split(/(?<=[._\-/\]])/);
    return parts.flatMap((p, i) => (i ? [el('wbr'), p] : [p]));
  }
  function kv(rows, id) {
    const shown = rows.filter(([, v]) => v !== undefined && v !== null && v !== '');
    if (shown.length === 0) return null;
    return el('dl', { class: 'facts kv', id }, shown.map(([k, v]) => [el('dt', null, breakable(k)), el('dd', null, typeof v === 'object' && v.nodeType ? v : String(v))]));
  }
  function section(title, content, id) {
    if (!content || (Array.isArray(content) && content.filter(Boolean).length === 0)) return null;
    return el('section', { class: 'panel-section', 'data-section': id || title }, el('h3', null, title), content);
  }
  function openPanel(target) {
    ui.panel = target;
    for (const row of document.querySelectorAll('.wf-row.open')) row.classList.remove('open');
    const row = [...document.querySelectorAll('.wf-row[data-id]')].find((r) => r.getAttribute('data-id') === target.id);
    if (row) row.classList.add('open');
    void fillPanel(target);
  }
  function closePanel() {
    ui.panel = null;
    panel.hidden = true;
    panel.replaceChildren();
    for (const row of document.querySelectorAll('.wf-row.open')) row.classList.remove('open');
  }
  async function fillPanel(target) {
    panel.hidden = false;
    panel.setAttribute('data-loading', '1');
    let d;
    try {
      d = await api(`events/${target.kind}/${enc(target.traceId)}/${enc(target.id)}`);
    } catch (err) {
      panel.replaceChildren(el('p', { class: 'error' }, `Could not load: ${err.message}`));
      return;
    }
    if (ui.panel !== target) return; // another row was clicked meanwhile
    const ev = d.event;
    const ctx = ev.context || {};
    const md = d.metadata || {};
    const http = ctx.http || {};
    const db = ctx.db || {};
    const dest = ctx.destination || {};
    const target2 = (ctx.service && ctx.service.target) || {};
    const typeLabel = [ev.type, ev.subtype, ev.action].filter(Boolean).join('.');
    const durUs = (ev.duration || 0) * 1000;
    const frames = ev.stacktrace;
    const summary = kv(
      [
        ['Service', d.service],
        ['Kind', d.kind],
        ['Type', typeLabel],
        ['Duration', fmtUs(durUs)],
        ['% of trace', target.totalUs ? `${fmtNum((durUs / target.totalUs) * 100)} %` : null],
        ['Starts at', target.offsetUs !== undefined ? `+${fmtUs(target.offsetUs)}` : null],
        ['Timestamp', fmtTime(ev.timestamp || d.ts)],
        ['Outcome', ev.outcome],
        ['Result', ev.result],
        ['Sampled', ev.sampled === undefined ? null : ev.sampled ? 'yes' : 'no'],
        ['Sample rate', ev.sample_rate],
        ['Sync', ev.sync === undefined ? null : ev.sync ? 'yes' : 'no'],
        ['ID', ev.id],
        ['Parent ID', ev.parent_id],
        ['Transaction ID', ev.transaction_id],
        ['Trace ID', link(`#/trace/${enc(target.traceId)}`, target.traceId, { class: 'mono' })],
        ['Spans started', ev.span_count ? ev.span_count.started : null],
        ['Spans dropped', ev.span_count ? ev.span_count.dropped : null],
      ],
      'panel-summary',
    );
    const request = ctx.request;
    const response = ctx.response;
    const parts = [
      el(
        'div',
        { class: 'panel-head' },
        el('h2', { id: 'panel-title' }, ev.name || '(unnamed)'),
        el('button', { type: 'button', class: 'close', id: 'panel-close', 'aria-label': 'close', onclick: closePanel }, '×'),
      ),
      section('Summary', summary, 'summary'),
      section('Labels', kv(Object.entries(ctx.tags || {}), 'panel-labels'), 'labels'),
      section(
        'Database',
        [
          kv([['Type', db.type], ['Instance', db.instance], ['User', db.user], ['Rows affected', db.rows_affected], ['Link', db.link]], 'panel-db'),
          db.statement ? el('pre', { class: 'statement', id: 'panel-statement' }, db.statement) : null,
        ],
        'db',
      ),
      section('HTTP', kv([['Method', http.method], ['URL', http.url], ['Status code', (http.response && http.response.status_code) || http.status_code], ...flatten(http.response && http.response.headers, 'response.headers')], 'panel-http'), 'http'),
      section(
        'Request',
        request ? kv([['Method', request.method], ['URL', request.url && (request.url.full || request.url.pathname)], ...flatten(request.headers, 'headers'), ...flatten(request.body, 'body')], 'panel-request') : null,
        'request',
      ),
      section('Response', response ? kv(flatten(response), 'panel-response') : null, 'response'),
      section(
        'Destination',
        kv([['Resource', dest.service && dest.service.resource], ['Address', dest.address], ['Port', dest.port], ['Service target type', target2.type], ['Service target name', target2.name]], 'panel-destination'),
        'destination',
      ),
      section('Message', ctx.message ? kv(flatten(ctx.message), 'panel-message') : null, 'message'),
      section('Composite', ev.composite ? kv([['Count', ev.composite.count], ['Sum', fmtUs(ev.composite.sum * 1000)], ['Compression', ev.composite.compression_strategy]], 'panel-composite') : null, 'composite'),
      section(
        'Dropped spans',
        Array.isArray(ev.dropped_spans_stats) && ev.dropped_spans_stats.length
          ? table(
              [
                { title: 'Destination', render: (x) => x.destination_service_resource || x.service_target_name || x.service_target_type || '–' },
                { title: 'Outcome', render: (x) => x.outcome || '–' },
                { title: 'Count', num: true, render: (x) => String((x.duration && x.duration.count) || 0), sort: (x) => x.duration && x.duration.count },
                { title: 'Total', num: true, render: (x) => fmtUs(x.duration && x.duration.sum && x.duration.sum.us), sort: (x) => x.duration && x.duration.sum && x.duration.sum.us },
              ],
              ev.dropped_spans_stats,
              { id: 'panel-dropped' },
            )
          : null,
        'dropped',
      ),
      section('User', ctx.user ? kv(flatten(ctx.user), 'panel-user') : null, 'user'),
      section('Custom', ctx.custom ? kv(flatten(ctx.custom), 'panel-custom') : null, 'custom'),
      section(
        Array.isArray(frames) && frames.length ? 'Stack trace' : 'Code location',
        Array.isArray(frames) && frames.length ? stackTrace(frames) : el('p', { class: 'muted' }, 'No stack trace or code location was recorded.'),
        'stack',
      ),
      section(
        `Errors (${d.errors.length})`,
        d.errors.length
          ? el('ul', { class: 'linked-errors', id: 'panel-errors' }, d.errors.map((e) => el('li', null, link(`#/error/${enc(e.groupKey)}`, e.type), ' ', e.message || '')))
          : el('p', { class: 'muted' }, 'No errors were recorded under this item.'),
        'errors',
      ),
      section(
        'Service and host',
        kv(
          [
            ['Service version', md.service && md.service.version],
            ['Environment', md.service && md.service.environment],
            ['Node name', md.service && md.service.node && md.service.node.configured_name],
            ['Agent', md.service && md.service.agent && [md.service.agent.name, md.service.agent.version].filter(Boolean).join(' ')],
            ['Runtime', md.service && md.service.runtime && [md.service.runtime.name, md.service.runtime.version].filter(Boolean).join(' ')],
            ['Host', md.system && (md.system.configured_hostname || md.system.detected_hostname || md.system.hostname)],
            ['Process', md.process && [md.process.title, md.process.pid].filter(Boolean).join(' ')],
            ...flatten(md.labels, 'labels'),
          ],
          'panel-metadata',
        ),
        'metadata',
      ),
      section('All fields', kv(flatten(ev), 'panel-all'), 'all'),
    ];
    panel.replaceChildren(...parts.filter(Boolean));
    panel.removeAttribute('data-loading');
    panel.setAttribute('data-for', target.id);
  }

  // ---------------------------------------------------------------- service map
  const KIND_LABEL = { service: 'service', database: 'database', cache: 'cache', broker: 'message broker', external: 'external', other: 'other' };
  /** Layered layout: services by call depth from the entry services, dependencies one column right of their deepest caller. */
  function layoutMap(nodes, edges) {
    const depth = new Map(nodes.map((n) => [n.id, 0]));
    for (let pass = 0; pass < nodes.length; pass++) {
      let changed = false;
      for (const e of edges) {
        const d = depth.get(e.source) + 1;
        if (e.source !== e.target && d > depth.get(e.target) && d < nodes.length) {
          depth.set(e.target, d);
          changed = true;
        }
      }
      if (!changed) break;
    }
    const cols = new Map();
    for (const n of nodes) {
      const d = depth.get(n.id);
      if (!cols.has(d)) cols.set(d, []);
      cols.get(d).push(n);
    }
    const order = (n) => `${n.kind === 'service' ? 0 : 1}${n.name}`;
    const pos = new Map();
    const colW = 250, rowH = 110, padX = 90, padY = 60;
    let maxRows = 1;
    for (const [d, list] of cols) {
      list.sort((a, b) => order(a).localeCompare(order(b)));
      maxRows = Math.max(maxRows, list.length);
      list.forEach((n, i) => pos.set(n.id, { x: padX + d * colW, y: padY + i * rowH, col: d, row: i }));
    }
    // Centre shorter columns vertically.
    for (const [, list] of cols) {
      const off = ((maxRows - list.length) * rowH) / 2;
      for (const n of list) pos.get(n.id).y += off;
    }
    return { pos, width: padX * 2 + (Math.max(...cols.keys()) || 0) * colW, height: padY * 2 + (maxRows - 1) * rowH };
  }
  function nodeShape(kind, x, y) {
    const s = 24;
    if (kind === 'service') return svg('circle', { cx: x, cy: y, r: s + 2, class: 'shape' });
    if (kind === 'database') return svg('rect', { x: x - s, y: y - s * 0.8, width: s * 2, height: s * 1.6, rx: 10, ry: 10, class: 'shape' });
    if (kind === 'cache') return svg('polygon', { points: `${x},${y - s} ${x + s},${y} ${x},${y + s} ${x - s},${y}`, class: 'shape' });
    if (kind === 'broker') {
      const p = [0, 1, 2, 3, 4, 5].map((i) => `${(x + s * Math.cos((Math.PI / 3) * i)).toFixed(1)},${(y + s * Math.sin((Math.PI / 3) * i)).toFixed(1)}`).join(' ');
      return svg('polygon', { points: p, class: 'shape' });
    }
    return svg('rect', { x: x - s, y: y - s * 0.7, width: s * 2, height: s * 1.4, rx: 3, ry: 3, class: `shape${kind === 'external' ? ' dashed' : ''}` });
  }
  const KIND_ICON = { service: 'S', database: 'DB', cache: 'C', broker: 'MQ', external: 'EXT', other: '?' };
  const nodeHref = (n) => (n.kind === 'service' ? `#/service/${enc(n.name)}` : `#/dependency/${enc(n.name)}`);

  async function viewServiceMap() {
    const r = range();
    const map = await api('service-map', r);
    const parts = [el('h1', null, 'Service map'), el('p', { class: 'muted' }, 'Services and what they call, from exit spans and the transactions they lead to. Edge labels: throughput · average latency · failed %.')];
    if (map.nodes.length === 0) return [...parts, el('p', { class: 'muted', id: 'map-empty' }, 'No services in this range.')];
    const { pos, width, height } = layoutMap(map.nodes, map.edges);
    const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, id: 'service-map', role: 'img', 'aria-label': 'service map', class: 'map' });
    root.appendChild(svg('defs', {}, svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' }, svg('path', { d: 'M0,0 L10,5 L0,10 z', class: 'arrowhead' }))));
    const byId = new Map(map.nodes.map((n) => [n.id, n]));
    for (const e of map.edges) {
      const a = pos.get(e.source);
      const b = pos.get(e.target);
      if (!a || !b) continue;
      const dx = b.x - a.x, dy = b.y - a.y;
      const len = Math.max(1, Math.hypot(dx, dy));
      const x1 = a.x + (dx / len) * 30, y1 = a.y + (dy / len) * 30, x2 = b.x - (dx / len) * 32, y2 = b.y - (dy / len) * 32;
      // Same column (or backwards): bend the edge so it does not cross the nodes between.
      const bend = a.col >= b.col ? 60 : 0;
      // Labels sit 60 % of the way to the target: edges fanning out of one caller are apart there.
      const mx = x1 + (x2 - x1) * 0.6 + (bend ? bend : 0), my = y1 + (y2 - y1) * 0.6;
      const failing = e.failureRate > 0;
      const g = svg('g', { class: `edge${failing ? ' failing' : ''}`, 'data-source': e.source, 'data-target': e.target });
      g.appendChild(svg('path', { d: bend ? `M${x1},${y1} Q${mx + bend},${my} ${x2},${y2}` : `M${x1},${y1} L${x2},${y2}`, class: 'edge-line', 'marker-end': 'url(#arrow)' }));
      const label = `${fmtTpm(e.tpm)} · ${fmtUs(e.avgUs)} · ${fmtPct(e.failureRate)}`;
      g.appendChild(svg('text', { x: mx, y: my - 6, class: 'edge-label', 'text-anchor': 'middle' }, label));
      g.appendChild(svg('title', {}, `${byId.get(e.source).name} → ${byId.get(e.target).name} via ${e.resources.join(', ')}: ${label}`));
      root.appendChild(g);
    }
    for (const n of map.nodes) {
      const p = pos.get(n.id);
      const a = svg('a', { href: nodeHref(n), class: `node ${n.kind}`, 'data-node': n.id, 'data-kind': n.kind });
      a.appendChild(nodeShape(n.kind, p.x, p.y));
      a.appendChild(svg('text', { x: p.x, y: p.y + 5, class: 'node-icon', 'text-anchor': 'middle' }, KIND_ICON[n.kind] || '?'));
      a.appendChild(svg('text', { x: p.x, y: p.y + 46, class: 'node-label', 'text-anchor': 'middle' }, n.name.length > 34 ? `${n.name.slice(0, 32)}…` : n.name));
      a.appendChild(svg('title', {}, `${n.name} (${KIND_LABEL[n.kind] || n.kind})${n.kind === 'service' ? `: ${fmtTpm(n.tpm)}, ${fmtUs(n.avgUs)}, ${fmtPct(n.failureRate)} failed` : ''}`));
      root.appendChild(a);
    }
    const name = (id) => byId.get(id) || { name: id, kind: 'other' };
    return [
      ...parts,
      el('div', { class: 'map-wrap' }, root),
      el('div', { class: 'legend', id: 'map-legend' }, Object.entries(KIND_LABEL).map(([k, t]) => el('span', { 'data-kind': k }, el('b', null, KIND_ICON[k]), ` ${t}`))),
      el('h2', null, 'Connections'),
      table(
        [
          { title: 'From', render: (e) => link(nodeHref(name(e.source)), name(e.source).name), sort: (e) => name(e.source).name },
          { title: 'To', render: (e) => link(nodeHref(name(e.target)), name(e.target).name), sort: (e) => name(e.target).name },
          { title: 'Kind', render: (e) => KIND_LABEL[name(e.target).kind] || '–', opt: true },
          { title: 'Via', render: (e) => e.resources.join(', '), opt: true },
          { title: 'Throughput', num: true, render: (e) => fmtTpm(e.tpm), sort: (e) => e.tpm, opt: true },
          { title: 'Latency', num: true, render: (e) => fmtUs(e.avgUs), sort: (e) => e.avgUs },
          { title: 'Failed', num: true, render: (e) => fmtPct(e.failureRate), sort: (e) => e.failureRate },
        ],
        map.edges,
        { id: 'map-edges' },
      ),
    ];
  }

  // ---------------------------------------------------------------- dependencies
  function dependenciesTable(rows, id, perService) {
    return table(
      [
        { title: 'Dependency', render: (d) => link(`#/dependency/${enc(d.name)}`, d.name), sort: (d) => d.name },
        { title: 'Kind', render: (d) => KIND_LABEL[d.kind] || d.kind, opt: true },
        perService ? null : { title: 'Called by', render: (d) => d.callers.map((c, i) => [i ? ', ' : '', link(`#/service/${enc(c)}`, c)]), sort: (d) => d.callers.join(','), opt: true },
        { title: 'Reaches', render: (d) => (d.downstream.length ? d.downstream.map((c, i) => [i ? ', ' : '', link(`#/service/${enc(c)}`, c)]) : '–'), sort: (d) => d.downstream.join(','), opt: true },
        { title: 'Latency', num: true, render: (d) => fmtUs(d.avgUs), sort: (d) => d.avgUs },
        { title: 'Throughput', num: true, render: (d) => fmtTpm(d.tpm), sort: (d) => d.tpm },
        { title: 'Failed', num: true, render: (d) => fmtPct(d.failureRate), sort: (d) => d.failureRate },
        { title: 'Impact', render: (d) => impactBar(d.impact), sort: (d) => d.impact, opt: true },
      ].filter(Boolean),
      rows,
      { id, empty: 'No exit spans (database, cache, broker or external calls) in this range.' },
    );
  }
  async function viewDependencies(service) {
    const params = range();
    if (service) params.service = service;
    const rows = await api('dependencies', params);
    return [
      el('h1', null, service ? `${service} · dependencies` : 'Dependencies'),
      service ? serviceTabs(service, 'dependencies') : null,
      dependenciesTable(rows, 'dependencies-table', Boolean(service)),
    ];
  }
  async function viewDependency(name) {
    const r = range();
    let d;
    try {
      d = await api('dependency', { ...r, name });
    } catch (err) {
      if (err.status === 404) return [el('h1', null, name), el('p', { class: 'muted' }, 'No calls to this dependency in this range.')];
      throw err;
    }
    const pts = d.points;
    const ser = (key) => pts.map((p) => ({ t: p.t, v: p[key] }));
    const zoom = { range: r, zoomFrom: dataStart(pts, r), stepMs: d.stepSeconds * 1000 };
    const sampleNote = d.sampled >= d.sampleLimit ? ` (from the newest ${d.sampleLimit} calls in the range)` : '';
    return [
      el('h1', null, name),
      el('p', { class: 'crumbs' }, link('#/dependencies', 'Dependencies'), ` › ${KIND_LABEL[d.kind] || d.kind}${d.spanSubtype ? ` (${d.spanSubtype})` : ''}`),
      kv(
        [
          ['Calls', d.count],
          ['Throughput', fmtTpm(d.tpm)],
          ['Average latency', fmtUs(d.avgUs)],
          ['Failed', fmtPct(d.failureRate)],
          ['Reaches', d.downstream.length ? d.downstream.join(', ') : null],
        ],
        'dependency-facts',
      ),
      el(
        'div',
        { class: 'charts' },
        lineChart('Throughput', [{ name: 'calls per minute', points: ser('tpm') }], fmtTpm, zoom),
        lineChart('Latency', [{ name: 'avg', points: ser('avgUs') }], fmtUs, zoom),
        lineChart('Failed call rate', [{ name: 'failed', color: '#c23a3a', points: ser('failureRate') }], fmtPct, { ...zoom, yMax: 0.01 }),
      ),
      el('h2', null, 'Upstream services'),
      table(
        [
          { title: 'Service', render: (c) => link(`#/service/${enc(c.service)}`, c.service), sort: (c) => c.service },
          { title: 'Latency', num: true, render: (c) => fmtUs(c.avgUs), sort: (c) => c.avgUs },
          { title: 'Throughput', num: true, render: (c) => fmtTpm(c.tpm), sort: (c) => c.tpm },
          { title: 'Failed', num: true, render: (c) => fmtPct(c.failureRate), sort: (c) => c.failureRate },
          { title: 'Impact', render: (c) => impactBar(c.impact), sort: (c) => c.impact, opt: true },
        ],
        d.callers,
        { id: 'dependency-callers' },
      ),
      el('h2', null, `Calling transactions${sampleNote}`),
      table(
        [
          { title: 'Transaction', render: (t) => (t.name ? link(`#/service/${enc(t.service)}/tx/${enc(t.name)}`, t.name) : '(transaction not stored)'), sort: (t) => t.name },
          { title: 'Service', render: (t) => t.service, opt: true },
          { title: 'Calls', num: true, render: (t) => String(t.count), sort: (t) => t.count },
          { title: 'Latency', num: true, render: (t) => fmtUs(t.avgUs), sort: (t) => t.avgUs },
          { title: 'Failed', num: true, render: (t) => fmtPct(t.failureRate), sort: (t) => t.failureRate },
          { title: 'Impact', render: (t) => impactBar(t.impact), sort: (t) => t.impact, opt: true },
        ],
        d.transactions,
        { id: 'dependency-transactions' },
      ),
      el('h2', null, `Operations${sampleNote}`),
      table(
        [
          { title: 'Span name', render: (o) => o.name || '(unnamed)' },
          { title: 'Calls', num: true, render: (o) => String(o.count), sort: (o) => o.count },
          { title: 'Latency', num: true, render: (o) => fmtUs(o.avgUs), sort: (o) => o.avgUs },
          { title: 'Failed', num: true, render: (o) => fmtPct(o.failureRate), sort: (o) => o.failureRate },
          { title: 'Impact', render: (o) => impactBar(o.impact), sort: (o) => o.impact, opt: true },
        ],
        d.operations,
        { id: 'dependency-operations' },
      ),
      el('h2', null, 'Recent calls'),
      table(
        [
          { title: 'Time', render: (s) => fmtTime(s.ts), sort: (s) => s.ts, opt: true },
          { title: 'Service', render: (s) => s.service, opt: true },
          { title: 'Span', render: (s) => s.name || '(unnamed)' },
          { title: 'Duration', num: true, render: (s) => fmtUs(s.durationUs), sort: (s) => s.durationUs },
          { title: 'Outcome', render: (s) => outcomeCell(s.outcome) },
          { title: 'Trace', render: (s) => traceLink(s.traceId), cls: 'id' },
        ],
        d.recent,
        { id: 'dependency-recent' },
      ),
    ];
  }

  // ---------------------------------------------------------------- search
  const SEARCH_FIELDS = [
    ['traceId', 'Trace id', '32 hex characters (any time)'],
    ['service', 'Service', ''],
    ['name', 'Transaction name', 'GET /api/orders/:id'],
    ['outcome', 'Outcome', ''],
    ['result', 'Result', 'HTTP 5xx'],
    ['label', 'Label', 'key:value'],
    ['version', 'Service version', '1.2.3'],
    ['environment', 'Environment', 'production'],
  ];
  async function viewSearch(query) {
    const q = new URLSearchParams(query || '');
    const services = await api('services', range());
    const inputs = {};
    const form = el('form', {
      id: 'search-form',
      class: 'search',
      onsubmit: (ev) => {
        ev.preventDefault();
        const p = new URLSearchParams();
        for (const [k] of SEARCH_FIELDS) {
          const v = inputs[k].value.trim();
          if (v) p.set(k, v);
        }
        const next = `#/search?${p}`;
        if (location.hash === next) render();
        else location.hash = next;
      },
    });
    for (const [k, title, hint] of SEARCH_FIELDS) {
      let input;
      if (k === 'outcome') input = el('select', { name: k, id: `f-${k}` }, ['', 'success', 'failure', 'unknown'].map((o) => el('option', { value: o }, o || 'any')));
      else if (k === 'service') input = el('select', { name: k, id: `f-${k}` }, el('option', { value: '' }, 'any'), services.map((s) => el('option', { value: s.name }, s.name)));
      else input = el('input', { name: k, id: `f-${k}`, placeholder: hint, autocomplete: 'off' });
      input.value = q.get(k) || '';
      inputs[k] = input;
      form.appendChild(el('label', null, el('span', null, title), input));
    }
    form.appendChild(el('div', { class: 'buttons' }, el('button', { type: 'submit', id: 'search-submit' }, 'Search'), link('#/search', 'Clear')));
    const active = SEARCH_FIELDS.some(([k]) => q.get(k));
    const parts = [el('h1', null, 'Search transactions'), el('p', { class: 'muted' }, 'All filters apply together, within the time range (a trace id is found at any time).'), form];
    if (!active) return parts;
    const params = range();
    for (const [k] of SEARCH_FIELDS) if (q.get(k)) params[k] = q.get(k);
    let res;
    try {
      res = await api('search', params);
    } catch (err) {
      if (err.status === 400) return [...parts, el('p', { class: 'error', id: 'search-error' }, JSON.parse(err.message.replace(/^\d+ /, '')).error)];
      throw err;
    }
    return [
      ...parts,
      el('h2', { id: 'search-count' }, `${res.rows.length}${res.rows.length >= res.limit ? '+' : ''} matching transactions`),
      table(
        [
          { title: 'Time', render: (s) => fmtTime(s.ts), sort: (s) => s.ts, opt: true },
          { title: 'Service', render: (s) => link(`#/service/${enc(s.service)}`, s.service) },
          { title: 'Name', render: (s) => link(`#/service/${enc(s.service)}/tx/${enc(s.name)}`, s.name || '(unnamed)'), sort: (s) => s.name },
          { title: 'Duration', num: true, render: (s) => fmtUs(s.durationUs), sort: (s) => s.durationUs },
          { title: 'Result', render: (s) => s.result || '–', opt: true },
          { title: 'Outcome', render: (s) => outcomeCell(s.outcome) },
          { title: 'Trace', render: (s) => traceLink(s.traceId), cls: 'id' },
        ],
        res.rows,
        { id: 'search-results', empty: 'No transactions match these filters in this range.' },
      ),
    ];
  }

  // ---------------------------------------------------------------- errors
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
          { title: 'Culprit', render: (g) => el('code', null, g.culprit || '–'), opt: true },
          { title: 'Service', render: (g) => g.service, opt: true },
          { title: 'Handled', render: (g) => (g.handled === null ? '–' : g.handled ? 'yes' : 'no'), opt: true },
          { title: 'Occurrences', num: true, render: (g) => String(g.count), sort: (g) => g.count },
          { title: 'Last seen', render: (g) => fmtTime(g.lastSeen), sort: (g) => g.lastSeen, opt: true },
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
          li.appendChild(el('pre', { class: 'source' }, lines.map(([t, cur], i) => el('div', { class: cur ? 'cur' : '' }, el('span', { class: 'ln' }, String(first + i)), String(t)))));
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

  /** The occurrence's tabs: exception (stack trace), request, user, labels, service and host. */
  function occurrenceTabs(ev, md) {
    const exc = ev.exception || {};
    const ctx = ev.context || {};
    const request = ctx.request;
    const tabs = [
      [
        'exception',
        'Exception',
        () => {
          const out = [stackTrace(exc.stacktrace || (ev.log && ev.log.stacktrace))];
          for (const c of exc.cause || []) out.push(el('h3', null, `Caused by ${c.type || ''}: ${c.message || ''}`), stackTrace(c.stacktrace));
          return out;
        },
      ],
      [
        'request',
        'Request',
        () =>
          request || ctx.response
            ? kv(
                [
                  ['Method', request && request.method],
                  ['URL', request && request.url && (request.url.full || request.url.pathname)],
                  ...flatten(request && request.headers, 'headers'),
                  ...flatten(request && request.body, 'body'),
                  ['Response status', ctx.response && ctx.response.status_code],
                  ...flatten(ctx.response && ctx.response.headers, 'response.headers'),
                ],
                'error-request',
              )
            : el('p', { class: 'muted' }, 'No request was recorded with this error.'),
      ],
      ['user', 'User', () => (ctx.user && Object.keys(ctx.user).length ? kv(flatten(ctx.user), 'error-user') : el('p', { class: 'muted' }, 'No user was recorded with this error.'))],
      ['labels', 'Labels', () => (ctx.tags && Object.keys(ctx.tags).length ? kv(Object.entries(ctx.tags), 'error-labels') : el('p', { class: 'muted' }, 'No labels were recorded with this error.'))],
      [
        'metadata',
        'Service and host',
        () =>
          kv(
            [
              ['Service version', md && md.service && md.service.version],
              ['Environment', md && md.service && md.service.environment],
              ['Agent', md && md.service && md.service.agent && [md.service.agent.name, md.service.agent.version].join(' ')],
              ['Runtime', md && md.service && md.service.runtime && [md.service.runtime.name, md.service.runtime.version].join(' ')],
              ['Host', md && md.system && (md.system.configured_hostname || md.system.detected_hostname || md.system.hostname)],
              ['Transaction', ev.transaction && ev.transaction.name],
              ...flatten(md && md.labels, 'labels'),
            ],
            'error-metadata',
          ) || el('p', { class: 'muted' }, 'No metadata.'),
      ],
    ];
    const body = el('div', { class: 'tab-body', id: 'occurrence-tab' });
    const bar = el('div', { class: 'tabs', role: 'tablist', id: 'occurrence-tabs' });
    const show = (k) => {
      ui.errorTab = k;
      for (const b of bar.children) b.classList.toggle('active', b.getAttribute('data-tab') === k);
      const t = tabs.find((x) => x[0] === k) || tabs[0];
      body.setAttribute('data-tab', t[0]);
      body.replaceChildren(...[t[2]()].flat().filter(Boolean));
    };
    for (const [k, title] of tabs) bar.appendChild(el('button', { type: 'button', role: 'tab', 'data-tab': k, onclick: () => show(k) }, title));
    show(tabs.some((t) => t[0] === ui.errorTab) ? ui.errorTab : 'exception');
    return [bar, body];
  }

  async function viewError(key) {
    const r = range();
    const g = await api(`errors/${enc(key)}`, r);
    const ev = g.latest.event;
    const exc = ev.exception || {};
    return [
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
        el('dd', null, g.latest.traceId ? traceLink(g.latest.traceId) : '–'),
      ),
      el(
        'div',
        { class: 'charts' },
        lineChart('Occurrences', [{ name: `per ${g.stepSeconds >= 3600 ? `${g.stepSeconds / 3600} h` : `${g.stepSeconds / 60} min`}`, color: '#c23a3a', points: occurrencePoints(g, r) }], (v) => fmtNum(v, v < 10 ? 1 : 0), { range: r }),
      ),
      el('h2', null, 'Latest occurrence'),
      occurrenceTabs(ev, g.latest.metadata),
      el('h2', null, 'Recent occurrences'),
      table(
        [
          { title: 'Time', render: (o) => fmtTime(o.ts), sort: (o) => o.ts },
          { title: 'Message', render: (o) => o.message },
          { title: 'Trace', render: (o) => traceLink(o.traceId), cls: 'id' },
        ],
        g.occurrences,
        { id: 'occurrences' },
      ),
    ];
  }

  async function viewMetrics(service) {
    const r = range();
    const m = await api(`services/${enc(service)}/metrics`, r);
    const s = (name, scale) => (m.series[name] || []).map((p) => ({ t: p.t, v: p.avg * (scale || 1) }));
    const total = m.series['system.memory.total'] || [];
    const free = new Map((m.series['system.memory.actual.free'] || []).map((p) => [p.t, p.avg]));
    const used = total.map((p) => ({ t: p.t, v: free.has(p.t) ? p.avg - free.get(p.t) : null }));
    const known = new Set(Object.keys(m.series));
    // Zoom when every series starts in the last half of the range.
    const firsts = Object.values(m.series).filter((x) => x.length).map((x) => x[0].t);
    const zoom = { range: r, zoomFrom: firsts.length ? dataStart([{ t: Math.min(...firsts), count: 1 }], r) : undefined, stepMs: m.stepSeconds * 1000 };
    return [
      el('h1', null, `${service} · metrics`),
      serviceTabs(service, 'metrics'),
      el(
        'div',
        { class: 'charts' },
        lineChart('CPU usage', [{ name: 'system', points: s('system.cpu.total.norm.pct') }, { name: 'process', points: s('system.process.cpu.total.norm.pct') }], fmtPct, { ...zoom, yMax: 0.01 }),
        lineChart('Memory', [{ name: 'process RSS', points: s('system.process.memory.rss.bytes') }, { name: 'system used', points: used }], fmtBytes, zoom),
        lineChart('Event loop delay', [{ name: 'avg delay', points: s('nodejs.eventloop.delay.avg.ms') }], (v) => `${fmtNum(v, 2)} ms`, zoom),
        lineChart('Heap', [{ name: 'used', points: s('nodejs.memory.heap.used.bytes') }, { name: 'allocated', points: s('nodejs.memory.heap.allocated.bytes') }], fmtBytes, zoom),
      ),
      el('h2', null, 'All metrics reported by this service'),
      el('p', { class: 'muted', id: 'metric-names' }, m.names.length ? m.names.filter((n) => !known.has(n)).concat(m.names.filter((n) => known.has(n))).join(', ') : 'none yet'),
    ];
  }

  // ---------------------------------------------------------------- agent configuration (receiver/ui/agent-config.js)
  function agentConfig() {
    const message = ui.flash;
    ui.flash = undefined;
    return window.spanforgeAgentConfigView({ el, api, message, rerender: (m) => ((ui.flash = m), render()) });
  }

  // ---------------------------------------------------------------- router
  function route() {
    const [path, query] = location.hash.replace(/^#\/?/, '').split('?');
    const parts = path.split('/').map((p) => {
      try {
        return decodeURIComponent(p);
      } catch {
        return p;
      }
    });
    const [a, b, c, d] = parts;
    const nav = a === 'error' ? 'errors' : a === 'dependency' ? 'dependencies' : a === 'trace' ? 'search' : a || 'services';
    for (const n of document.querySelectorAll('[data-nav]')) n.classList.toggle('active', n.getAttribute('data-nav') === nav);
    if (a !== 'trace' && ui.panel) closePanel();
    if (a === 'service' && b && c === 'metrics') return () => viewMetrics(b);
    if (a === 'service' && b && c === 'dependencies') return () => viewDependencies(b);
    if (a === 'service' && b && c === 'tx' && d !== undefined) return () => viewTransaction(b, d);
    if (a === 'service' && b) return () => viewService(b);
    if (a === 'trace' && b) return () => viewTrace(b);
    if (a === 'errors') return () => viewErrors(b);
    if (a === 'error' && b) return () => viewError(b);
    if (a === 'map') return viewServiceMap;
    if (a === 'dependencies') return () => viewDependencies();
    if (a === 'dependency' && b) return () => viewDependency(b);
    if (a === 'search') return () => viewSearch(query);
    if (a === 'agent-config') return () => agentConfig(); // receiver/ui/agent-config.js
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
      main.replaceChildren(...[nodes].flat(Infinity).filter(Boolean));
      window.scrollTo(0, y);
      main.setAttribute('data-rendered', String(Date.now()));
    } catch (err) {
      main.replaceChildren(el('p', { class: 'error' }, `Could not load: ${err.message}`));
      main.setAttribute('data-rendered', String(Date.now()));
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
      // Not while a form is being filled in (the agent configuration view).
      if (document.visibilityState !== 'hidden' && !location.hash.startsWith('#/agent-config')) render();
    });
  }

  // Header: jump to a trace by id, or search transactions by name.
  const jump = document.getElementById('jump');
  jump.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const v = jump.elements.q.value.trim();
    if (!v) return;
    location.hash = /^[0-9a-f]{32}$/i.test(v) ? `#/trace/${v.toLowerCase()}` : `#/search?${new URLSearchParams({ name: v })}`;
  });
  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape' && ui.panel) closePanel();
  });

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
  // Charts are drawn at their pixel width: redraw when the window width changes.
  let lastWidth = window.innerWidth;
  let resizeTimer;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      if (Math.abs(window.innerWidth - lastWidth) > 20) {
        lastWidth = window.innerWidth;
        render();
      }
    }, 200);
  });
  if (!location.hash) location.hash = '#/services';
  render();
  connectLive();
})();
