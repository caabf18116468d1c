// pgpulse dashboard: the error detail (errors.js opens it, #error=<fingerprint>)
// and the drawing both share: occurrence bars as inline SVG, times, the NEW
// mark. The detail shows the stack, figures, chart, routes (each a route
// filter) and the latest requests, each linked to its trace when the dashboard
// has a traceUrl; a request's time opens the request detail dialog
// (request.js), read from GET /api/request?requestId=&at=. Loaded after app.js
// and before errors.js (window.pgpulseErrorDetail); DOM by textContent only.
(() => {
  'use strict';
  const app = window.pgpulseApp;
  const { el, fmt, ms } = app;
  const SVG = 'http://www.w3.org/2000/svg';
  const time = (iso) => new Date(iso).toLocaleString();
  const shortTime = (iso) => new Date(iso).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'short' });
  const routeText = (route) => (route === '' ? '(no route)' : route);
  const newBadge = () => el('span', 'new', 'badge-new');

  function bucketLabel(seconds) {
    if (seconds >= 86_400) return 'day';
    if (seconds >= 3_600) return `${seconds / 3_600} h`;
    if (seconds >= 60) return `${seconds / 60} min`;
    return `${seconds} s`;
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

  /** A scroll container the keyboard reaches (focusable, named), as axe's scrollable-region-focusable asks. */
  function scrollRegion(label, child, className) {
    const box = el('div', undefined, className);
    box.tabIndex = 0;
    box.setAttribute('role', 'region');
    box.setAttribute('aria-label', label);
    box.append(child);
    return box;
  }

  /** An example as the request dialog's placeholder row (column names), shown until the stored row arrives. */
  const placeholderRow = (e) => ({
    inserted_at: e.time,
    request_id: e.requestId,
    method: e.method,
    path: e.path,
    route: e.route,
    status_code: e.status,
    duration_ms: e.durationMs,
    trace_id: e.traceId,
    span_id: e.spanId,
    consumer_id: e.consumerId,
    consumer_name: e.consumerName,
    node_id: e.nodeId,
  });

  function exampleRow(d, e) {
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
    // The time opens the request dialog: the stored row found by its request id near its time.
    const lookup = new URLSearchParams({ requestId: e.requestId, at: e.time });
    window.pgpulseRequest?.link(tr, placeholderRow(e), String(lookup));
    return tr;
  }

  function examplesTable(d) {
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
    for (const e of d.examples) ebody.append(exampleRow(d, e));
    if (d.examples.length === 0) {
      const td = el('td', 'no request in this range', 'empty');
      td.colSpan = 8;
      const tr = el('tr');
      tr.append(td);
      ebody.append(tr);
    }
    examples.append(ethead, ebody);
    return scrollRegion('Example requests', examples, 'scroll');
  }

  /** Fills `container` with the detail `d` of GET /api/errors/<fingerprint>; `onClose` runs on its Close button. */
  function render(container, d, onClose) {
    const head = el('div', undefined, 'error-detail-head');
    const h = el('h4');
    if (d.isNew) h.append(newBadge(), ' ');
    h.append(`${d.class}: ${d.message}`);
    const close = el('button', 'Close', 'link');
    close.type = 'button';
    close.addEventListener('click', onClose);
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
    const stack = el('ol');
    for (const frame of d.frames) stack.append(el('li', frame));
    if (d.frames.length === 0) stack.append(el('li', 'no stack frames were captured', 'empty'));
    const columns = el('div', undefined, 'error-columns');
    const stackBox = el('div');
    // Long frames scroll sideways: the keyboard reaches the block and it has a name.
    stackBox.append(el('h5', 'Stack (top frames)'), scrollRegion('Stack frames', stack, 'stack'));
    const routeBox = el('div');
    routeBox.append(el('h5', 'Routes'), routes);
    columns.append(stackBox, routeBox);
    container.replaceChildren(head, facts, meta, chart, columns, el('h5', `Latest requests (${d.examples.length})`), examplesTable(d));
  }

  window.pgpulseErrorDetail = { render, sparkline, bucketLabel, time, shortTime, routeText, newBadge };
})();
