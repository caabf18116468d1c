// pgpulse dashboard: errors (what broke, grouped by fingerprint). An Errors
// panel lists the error groups of the view's range and filters from
// GET /api/errors (new ones marked, counts, occurrences over time, routes);
// clicking one opens its detail from GET /api/errors/<fingerprint>: the stack,
// figures, routes and the latest requests, linked to their trace when the
// dashboard has a traceUrl. Redrawn after each stats answer (the pgpulse:stats
// event of app.js). Loaded after app.js (window.pgpulseApp); DOM by textContent only.
(() => {
  'use strict';
  const app = window.pgpulseApp;
  const { el, fmt, ms } = app;
  const SVG = 'http://www.w3.org/2000/svg';
  const DAY_MS = 86_400_000;
  const time = (iso) => new Date(iso).toLocaleString();
  const shortTime = (iso) => new Date(iso).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'short' });

  // What "new" means: first seen in the range, or in the last day or week (whatever the range).
  const SINCE = { range: null, '24h': DAY_MS, '7d': 7 * DAY_MS };

  const panel = el('section', undefined, 'panel wide errors-panel');
  panel.id = 'errors-panel';
  panel.setAttribute('aria-labelledby', 'errors-title');
  const title = el('h3', 'Errors ');
  title.id = 'errors-title';
  const caption = el('small', '');
  caption.id = 'errors-caption';
  const sinceSelect = el('select');
  sinceSelect.id = 'errors-since';
  sinceSelect.append(
    new Option('new = first seen in this range', 'range'),
    new Option('new = first seen in the last 24 h', '24h'),
    new Option('new = first seen in the last 7 days', '7d'),
  );
  const sinceLabel = el('label', undefined, 'errors-since');
  sinceLabel.append(sinceSelect);
  title.append(caption, sinceLabel);
  const table = el('table');
  table.id = 'errors';
  const scroll = el('div', undefined, 'scroll');
  scroll.tabIndex = 0;
  scroll.setAttribute('role', 'region');
  scroll.setAttribute('aria-label', 'Errors');
  scroll.append(table);
  const detail = el('div', undefined, 'error-detail');
  detail.id = 'error-detail';
  detail.hidden = true;
  detail.tabIndex = -1;
  panel.append(title, scroll, detail);
  document.getElementById('main').insertBefore(panel, document.querySelector('.breakdowns'));

  let last = null; // the latest pgpulse:stats detail: { stats, range, filters }
  let open = /^#error=([0-9a-f]{16})$/.exec(location.hash)?.[1] ?? null; // fingerprint whose detail is shown
  let generation = 0;
  let loading = null;

  /** Query of the errors API for the view: its range, zone and filters, and what counts as new. */
  function query(range, tz, filters) {
    const q = new URLSearchParams({ from: String(range.from), to: String(range.to), tz });
    for (const [key, value] of Object.entries(filters)) if (value !== undefined) q.set(key, value);
    const since = SINCE[sinceSelect.value];
    if (since) q.set('since', String(range.to - since));
    return q;
  }

  async function getJson(path) {
    const response = await fetch(path, { credentials: 'same-origin' });
    if (!response.ok) throw new Error(`${path.split('?')[0]}: HTTP ${response.status}`);
    return response.json();
  }

  /** Bars of a series as inline SVG (one bar per bucket, scaled to its largest). */
  function sparkline(series, buckets, bucketSeconds, width, height) {
    const svg = document.createElementNS(SVG, 'svg');
    svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
    svg.setAttribute('width', String(width));
    svg.setAttribute('height', String(height));
    svg.setAttribute('class', 'spark');
    const max = Math.max(0, ...series);
    svg.setAttribute('role', 'img');
    svg.setAttribute('aria-label', `occurrences over time: at most ${fmt.format(max)} per ${bucketLabel(bucketSeconds)}`);
    const base = document.createElementNS(SVG, 'line');
    for (const [k, v] of Object.entries({ x1: 0, x2: width, y1: height - 0.5, y2: height - 0.5 })) base.setAttribute(k, String(v));
    svg.append(base);
    const step = width / Math.max(1, series.length);
    series.forEach((n, i) => {
      if (n === 0) return;
      const h = Math.max(2, Math.round((n / max) * (height - 2)));
      const bar = document.createElementNS(SVG, 'rect');
      for (const [k, v] of Object.entries({ x: i * step, y: height - h, width: Math.max(1, step - 1), height: h })) bar.setAttribute(k, String(v));
      const tip = document.createElementNS(SVG, 'title');
      tip.textContent = `${fmt.format(n)} at ${new Date(buckets[i]).toLocaleString()}`;
      bar.append(tip);
      svg.append(bar);
    });
    return svg;
  }

  function bucketLabel(seconds) {
    if (seconds >= 86_400) return 'day';
    if (seconds >= 3_600) return `${seconds / 3_600} h`;
    if (seconds >= 60) return `${seconds / 60} min`;
    return `${seconds} s`;
  }

  const routeText = (route) => (route === '' ? '(no route)' : route);
  const newBadge = () => el('span', 'new', 'badge-new');

  function renderList(answer) {
    const { groups } = answer;
    caption.textContent = `${fmt.format(answer.groupCount)} group${answer.groupCount === 1 ? '' : 's'}, ${fmt.format(answer.newCount)} new, ${fmt.format(answer.errorCount)} occurrence${answer.errorCount === 1 ? '' : 's'}`;
    const head = el('tr');
    for (const [text, cls] of [
      ['Error', ''],
      ['Count', 'num'],
      ['Over time', 'over-time'],
      ['Last seen', 'num'],
    ]) {
      head.append(el('th', text, cls || undefined));
    }
    head.children[2].title = `occurrences per ${bucketLabel(answer.range.bucketSeconds)} over the range`;
    const thead = el('thead');
    thead.append(head);
    const body = el('tbody');
    if (groups.length === 0) {
      const td = el('td', 'no errors in this range', 'empty');
      td.colSpan = 4;
      const tr = el('tr');
      tr.append(td);
      body.append(tr);
    }
    for (const g of groups) {
      const tr = el('tr', undefined, g.fingerprint === open ? 'selected' : undefined);
      tr.dataset.fingerprint = g.fingerprint;
      const first = el('td', undefined, 'error-cell');
      const line = el('div', undefined, 'error-line');
      if (g.isNew) line.append(newBadge());
      const button = el('button', `${g.class}: ${g.message}`, 'error-open');
      button.type = 'button';
      button.title = `${g.class}: ${g.message}\nfirst seen ${time(g.firstSeen)}`;
      button.setAttribute('aria-expanded', String(g.fingerprint === open));
      button.addEventListener('click', () => openDetail(g.fingerprint));
      line.append(button);
      const routes = el('div', undefined, 'error-routes');
      routes.append(g.routes.map((r) => `${routeText(r.route)} ×${fmt.format(r.count)}`).join(' · '));
      if (g.routeCount > g.routes.length) routes.append(` · +${g.routeCount - g.routes.length} more`);
      routes.title = routes.textContent;
      first.append(line, routes);
      const spark = el('td', undefined, 'over-time');
      spark.append(sparkline(g.series, answer.buckets, answer.range.bucketSeconds, 160, 26));
      tr.append(first, el('td', fmt.format(g.count), 'num count'), spark, lastSeenCell(g.lastSeen));
      body.append(tr);
    }
    table.replaceChildren(thead, body);
  }

  function lastSeenCell(iso) {
    const td = el('td', shortTime(iso), 'num last-seen');
    td.title = time(iso);
    return td;
  }

  function fact(list, name, value) {
    const item = el('div');
    item.append(el('dt', name), el('dd', value));
    list.append(item);
  }

  function traceLink(template, e) {
    const link = el('a', 'trace', 'trace');
    link.href = template.replaceAll('{trace_id}', encodeURIComponent(e.traceId)).replaceAll('{span_id}', encodeURIComponent(e.spanId ?? ''));
    link.target = '_blank';
    link.rel = 'noopener noreferrer';
    link.title = `Trace ${e.traceId}`;
    return link;
  }

  function renderDetail(d) {
    const head = el('div', undefined, 'error-detail-head');
    const h = el('h4');
    if (d.isNew) h.append(newBadge(), ' ');
    h.append(`${d.class}: ${d.message}`);
    const close = el('button', 'Close', 'link');
    close.type = 'button';
    close.addEventListener('click', closeDetail);
    head.append(h, close);
    const facts = el('dl', undefined, 'figures');
    fact(facts, 'In range', fmt.format(d.count));
    fact(facts, 'Ever stored', fmt.format(d.total.count));
    fact(facts, 'First seen', time(d.firstSeen));
    fact(facts, 'Last seen', d.lastSeen ? time(d.lastSeen) : '–');
    const meta = el('p', `fingerprint ${d.fingerprint} · first request ${d.firstRequestId}`, 'muted fingerprint');
    const chart = el('div', undefined, 'error-chart');
    const spark = sparkline(d.series, d.buckets, d.range.bucketSeconds, 600, 60);
    spark.setAttribute('preserveAspectRatio', 'none');
    const axis = el('div', undefined, 'error-chart-axis');
    axis.append(el('span', shortTime(d.range.from)), el('span', `per ${bucketLabel(d.range.bucketSeconds)}`), el('span', shortTime(d.range.to)));
    chart.append(spark, axis);
    const routes = el('ul', undefined, 'error-route-list');
    for (const r of d.routes) {
      const li = el('li');
      li.append(r.route === '' ? el('span', routeText(r.route)) : app.filterButton('route', r.route, r.route), el('span', ` ×${fmt.format(r.count)}`, 'muted'));
      routes.append(li);
    }
    const stack = el('ol', undefined, 'stack');
    for (const frame of d.frames) stack.append(el('li', frame));
    if (d.frames.length === 0) stack.append(el('li', 'no stack frames were captured', 'empty'));
    const examples = el('table', undefined, 'error-examples');
    examples.id = 'error-examples';
    const eh = el('tr');
    for (const [text, cls] of [
      ['Time', ''],
      ['Method', 'method'],
      ['Path', ''],
      ['Status', 'status'],
      ['ms', 'num ms'],
      ['Request id', 'request-id'],
      ['Consumer', 'consumer'],
      ['Trace', 'trace-cell'],
    ]) {
      eh.append(el('th', text, cls || undefined));
    }
    const ethead = el('thead');
    ethead.append(eh);
    const ebody = el('tbody');
    for (const e of d.examples) {
      const tr = el('tr');
      tr.dataset.requestId = e.requestId;
      const traceCell = el('td', undefined, 'trace-cell');
      if (d.traceUrl && e.traceId) traceCell.append(traceLink(d.traceUrl, e));
      else traceCell.append(e.traceId ? e.traceId.slice(0, 8) : '–');
      const cells = [
        el('td', new Date(e.time).toLocaleTimeString(), 'time'),
        el('td', e.method, 'method'),
        el('td', e.path, 'path'),
        el('td', String(e.status), `status s${String(e.status)[0]}`),
        el('td', ms(e.durationMs), 'num ms'),
        el('td', e.requestId, 'request-id'),
        el('td', e.consumerName || e.consumerId || '–', 'consumer'),
        traceCell,
      ];
      cells[0].title = time(e.time);
      cells[2].title = e.message ? `${e.path}\n${e.message}` : e.path;
      cells[5].title = e.requestId;
      tr.append(...cells);
      ebody.append(tr);
    }
    if (d.examples.length === 0) {
      const td = el('td', 'no request in this range', 'empty');
      td.colSpan = 8;
      const tr = el('tr');
      tr.append(td);
      ebody.append(tr);
    }
    examples.append(ethead, ebody);
    const exScroll = el('div', undefined, 'scroll');
    exScroll.tabIndex = 0;
    exScroll.setAttribute('role', 'region');
    exScroll.setAttribute('aria-label', 'Example requests');
    exScroll.append(examples);
    const columns = el('div', undefined, 'error-columns');
    const stackBox = el('div');
    stackBox.append(el('h5', 'Stack (top frames)'), stack);
    const routeBox = el('div');
    routeBox.append(el('h5', 'Routes'), routes);
    columns.append(stackBox, routeBox);
    detail.replaceChildren(head, facts, meta, chart, columns, el('h5', `Latest requests (${d.examples.length})`), exScroll);
  }

  async function loadDetail(scrollTo) {
    if (!open || !last) return;
    const fingerprint = open;
    const q = query(last.range, last.stats.range.tz, last.filters);
    q.set('examples', '10');
    try {
      const d = await getJson(`api/errors/${fingerprint}?${q}`);
      if (open !== fingerprint) return;
      detail.hidden = false;
      renderDetail(d);
      if (scrollTo) {
        detail.scrollIntoView({ block: 'nearest' });
        detail.focus({ preventScroll: true });
      }
    } catch (error) {
      if (open !== fingerprint) return;
      detail.hidden = false;
      detail.replaceChildren(el('p', `Could not load the error: ${error.message}`, 'error'));
    }
  }

  function markSelected() {
    for (const tr of table.querySelectorAll('tbody tr[data-fingerprint]')) {
      const selected = tr.dataset.fingerprint === open;
      tr.classList.toggle('selected', selected);
      tr.querySelector('.error-open')?.setAttribute('aria-expanded', String(selected));
    }
  }

  function openDetail(fingerprint) {
    open = fingerprint;
    history.replaceState(history.state, '', `${location.pathname}${location.search}#error=${fingerprint}`);
    markSelected();
    void loadDetail(true);
  }

  function closeDetail() {
    open = null;
    detail.hidden = true;
    detail.replaceChildren();
    history.replaceState(history.state, '', `${location.pathname}${location.search}`);
    markSelected();
  }

  async function load() {
    if (!last) return;
    const mine = ++generation;
    if (loading) return; // the answer in flight is followed by one more load for the newest view
    const q = query(last.range, last.stats.range.tz, last.filters);
    q.set('limit', '20');
    loading = getJson(`api/errors?${q}`);
    try {
      const answer = await loading;
      if (mine === generation) {
        renderList(answer);
        void loadDetail(false);
      }
    } catch (error) {
      if (mine === generation) caption.textContent = `could not load errors: ${error.message}`;
    } finally {
      loading = null;
      if (mine !== generation) void load();
    }
  }

  window.addEventListener('pgpulse:stats', (event) => {
    last = event.detail;
    void load();
  });
  sinceSelect.addEventListener('change', () => void load());
})();
