// pgpulse dashboard: the endpoint page. While a route filter is set (a click on
// a route in Top routes, Slowest routes or the live table), the top of the page
// shows that route: its figures and percentiles (from /api/stats), requests per
// second, exact status codes and response size over time, every status code,
// its top consumers and its slowest recent requests (from /api/endpoint, read
// from the request cube on long ranges). The cards, charts and tables below
// follow the same filter. Loaded after app.js (window.pgpulseApp); DOM by textContent only.
(() => {
  'use strict';
  const app = window.pgpulseApp;
  const { el, fmt, ms, bytes } = app;
  // Shades per status class: the class's colour for its commonest code, then lighter and darker ones.
  const CLASS_COLOURS = {
    1: ['#8b93a7', '#c3c9d6', '#5d6478'],
    2: ['#3ecf8e', '#a3ecc9', '#1f8f5f'],
    3: ['#4f9cf9', '#a9cdfb', '#2566b8'],
    4: ['#f5a524', '#f9d08a', '#b87a10'],
    5: ['#f25f5c', '#f8a9a7', '#b83532'],
  };
  const colourOf = (code, shown) => {
    const shades = CLASS_COLOURS[code[0]] || ['#c3c9d6'];
    const rank = shown.filter((c) => c[0] === code[0]).indexOf(code);
    return shades[rank % shades.length];
  };

  const section = el('section', undefined, 'endpoint');
  section.id = 'endpoint';
  section.hidden = true;
  const heading = el('div', undefined, 'panel endpoint-heading');
  const panel = (title, id, className = 'panel') => {
    const node = el('div', undefined, className);
    const h3 = el('h3', title);
    const small = el('small', '');
    small.id = `${id}-caption`;
    h3.append(' ', small);
    node.append(h3);
    return node;
  };
  const rpsPanel = panel('Requests per second — selected range', 'endpoint-rps');
  const codesPanel = panel('Status codes over time', 'endpoint-codes');
  const bytesPanel = panel('Response bytes per bucket', 'endpoint-bytes');
  for (const [node, id] of [
    [rpsPanel, 'chart-endpoint-rps'],
    [codesPanel, 'chart-endpoint-codes'],
    [bytesPanel, 'chart-endpoint-bytes'],
  ]) {
    const chart = el('div', undefined, 'chart');
    chart.id = id;
    node.append(chart);
  }
  const charts = el('div', undefined, 'charts');
  charts.append(rpsPanel, codesPanel, bytesPanel);
  const tables = el('div', undefined, 'endpoint-tables');
  const statusPanel = panel('Status codes', 'endpoint-status');
  const consumersPanel = panel('Top consumers of this route', 'endpoint-consumers');
  const errorsPanel = panel('Errors hit on this route', 'endpoint-errors', 'panel wide');
  const slowPanel = panel('Slowest recent requests', 'endpoint-slowest', 'panel wide');
  const codesTable = tableIn(statusPanel, 'endpoint-status');
  const consumersTable = tableIn(consumersPanel, 'endpoint-consumers');
  const slowTable = tableIn(slowPanel, 'endpoint-slowest');
  const errorsTable = tableIn(errorsPanel, 'endpoint-errors');
  tables.append(statusPanel, consumersPanel, errorsPanel, slowPanel);
  section.append(heading, charts, tables);
  document.querySelector('main .cards').before(section);

  function tableIn(node, id) {
    const table = el('table');
    table.id = id;
    const scroll = el('div', undefined, 'scroll');
    scroll.tabIndex = 0;
    scroll.setAttribute('role', 'region');
    scroll.setAttribute('aria-label', node.firstChild.textContent.trim());
    scroll.append(table);
    node.append(scroll);
    return table;
  }

  function fill(table, headers, rows, numeric = () => true) {
    const head = el('tr');
    headers.forEach((h, i) => head.append(el('th', h, i > 0 && numeric(i) ? 'num' : undefined)));
    const thead = el('thead');
    thead.append(head);
    const body = el('tbody');
    if (rows.length === 0) {
      const td = el('td', 'no data in this range', 'empty');
      td.colSpan = headers.length;
      const tr = el('tr');
      tr.append(td);
      body.append(tr);
    }
    for (const cells of rows) {
      const tr = el('tr');
      cells.forEach((value, i) => {
        const td = el('td', undefined, i > 0 && numeric(i) ? 'num' : undefined);
        if (value instanceof Node) td.append(value);
        else td.textContent = value;
        tr.append(td);
      });
      body.append(tr);
    }
    table.replaceChildren(thead, body);
    return body;
  }

  const shortTime = (iso) =>
    new Date(iso).toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
  const pct = (n, of) => `${((n / Math.max(1, of)) * 100).toFixed(2)}%`;

  function fillHeading(route, stats, endpoint) {
    const t = stats.totals;
    const seconds = (Date.parse(stats.range.to) - Date.parse(stats.range.from)) / 1000;
    const figures = el('dl', undefined, 'figures');
    const add = (name, value) => {
      const item = el('div');
      item.append(el('dt', name), el('dd', value));
      figures.append(item);
    };
    add('Requests', fmt.format(t.requests));
    const rate = t.requests / Math.max(1, seconds);
    add('Mean req/s', rate === 0 ? '0' : rate >= 1 ? rate.toFixed(2) : rate.toPrecision(2));
    add('Error rate (5xx)', pct(t.status['5xx'], t.requests));
    add('4xx', pct(t.status['4xx'], t.requests));
    add('p50 / p95 / p99 ms', `${ms(t.p50)} / ${ms(t.p95)} / ${ms(t.p99)}`);
    // Bytes from the endpoint's series (cube or raw rows) where the stats source keeps none (rollups).
    const sizes = endpoint.series.every((p) => p.bytes !== null) ? endpoint.series.reduce((sum, p) => sum + p.bytes, 0) : null;
    add('Response bytes', typeof t.bytes === 'number' ? bytes(t.bytes) : sizes === null ? '–' : bytes(sizes));
    const facts = el('p', `Over the selected range, under the filters; the cards and charts below follow them too.`, 'muted');
    heading.replaceChildren(el('h2', `Endpoint ${route}`), facts, figures);
  }

  let codesKey = '';
  function drawCharts(endpoint) {
    const exs = endpoint.series.map((p) => p.t / 1000);
    const size = endpoint.range.bucketSeconds;
    // Rates far below 1/s: the y axis fits them instead of starting at a floor of 1.
    const rates = { scales: { x: { time: true }, y: { range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] } } };
    const rps = endpoint.series.map((p) => p.requests / size);
    app.chart('chart-endpoint-rps', [{ label: 'req/s', stroke: '#4f9cf9', fill: 'rgba(79,156,249,.15)', width: 2 }], [exs, rps], rates);
    document.getElementById('endpoint-rps-caption').textContent = `(${bucketText(size)} buckets)`;
    // The codes of the range, most requests first (at most 8 lines; the rest summed as "other").
    const shown = endpoint.codes.slice(0, 8).map((c) => c.code);
    const other = endpoint.codes.length > shown.length;
    const key = [...shown, other ? 'other' : ''].join(',');
    if (key !== codesKey) app.dropChart('chart-endpoint-codes');
    codesKey = key;
    const series = shown.map((code) => ({ label: code, stroke: colourOf(code, shown), width: 2 }));
    const data = [exs, ...shown.map((code) => endpoint.series.map((p) => p.codes[code] || 0))];
    if (other) {
      series.push({ label: 'other', stroke: '#c3c9d6', width: 1.5, dash: [6, 4] });
      data.push(endpoint.series.map((p) => Object.entries(p.codes).reduce((sum, [code, n]) => (shown.includes(code) ? sum : sum + n), 0)));
    }
    if (series.length === 0) {
      series.push({ label: 'requests', stroke: '#4f9cf9', width: 2 });
      data.push(endpoint.series.map(() => 0));
    }
    app.chart('chart-endpoint-codes', series, data);
    const source = endpoint.range.source;
    document.getElementById('endpoint-codes-caption').textContent =
      `(${bucketText(endpoint.range.bucketSeconds)} buckets${source === 'rollups' ? '; status classes from rollups while the cube builds' : ''})`;
    app.chart(
      'chart-endpoint-bytes',
      [{ label: 'bytes', stroke: '#b98cf5', fill: 'rgba(185,140,245,.15)', width: 2 }],
      [exs, endpoint.series.map((p) => p.bytes)],
    );
    document.getElementById('endpoint-bytes-caption').textContent =
      source === 'rollups' ? '(not kept by the rollups)' : `(${bucketText(endpoint.range.bucketSeconds)} buckets)`;
  }

  function bucketText(seconds) {
    if (seconds % 86_400 === 0) return `${seconds / 86_400}-day`;
    if (seconds % 3_600 === 0) return `${seconds / 3_600}-hour`;
    if (seconds % 60 === 0) return `${seconds / 60}-minute`;
    return `${seconds}-second`;
  }

  function fillTables(stats, endpoint) {
    fill(
      codesTable,
      ['Status', 'Requests', 'Share'],
      endpoint.codes.map((c) => [app.filterButton('status', c.code, c.code), fmt.format(c.requests), pct(c.requests, stats.totals.requests)]),
    );
    const consumers = (stats.consumers || []).slice(0, 10);
    fill(
      consumersTable,
      ['Consumer', 'Requests', '5xx', 'p95 ms'],
      consumers.map((c) => [
        app.filterButton('consumer', c.id, c.name ? `${c.name} (${c.id})` : c.id),
        fmt.format(c.requests),
        fmt.format(c.errors),
        ms(c.p95),
      ]),
    );
    const slow = endpoint.slowest;
    document.getElementById('endpoint-slowest-caption').textContent = slow.since
      ? `(the slowest of the newest ${fmt.format(slow.scanned)} requests, since ${new Date(slow.since).toLocaleString()})`
      : '';
    const body = fill(
      slowTable,
      ['Time', 'Method', 'Path', 'Status', 'ms', 'Consumer'],
      slow.rows.map((r) => [
        shortTime(r.inserted_at),
        r.method,
        r.path,
        String(r.status_code),
        ms(r.duration_ms),
        r.consumer_id === null ? '' : r.consumer_name || r.consumer_id,
      ]),
      (i) => i === 4,
    );
    // Each row opens the request's detail view (request.js) when it is loaded.
    slow.rows.forEach((row, i) => {
      const tr = body.rows[i];
      tr.dataset.requestId = String(row.id);
      tr.cells[3].className = `s${String(row.status_code)[0]}`;
      if (window.pgpulseRequest) window.pgpulseRequest.link(tr, row);
    });
  }

  /** The error groups of the route in the range (GET /api/errors under the same filters), NEW marked as the Errors panel does. */
  function fillErrors(answer) {
    document.getElementById('endpoint-errors-caption').textContent = answer
      ? `(${fmt.format(answer.groupCount)} group${answer.groupCount === 1 ? '' : 's'}, ${fmt.format(answer.errorCount)} error${answer.errorCount === 1 ? '' : 's'})`
      : '';
    fill(
      errorsTable,
      ['Error', 'Count', 'Last seen'],
      answer
        ? answer.groups.map((g) => {
            const label = el('span', `${g.isNew ? 'NEW ' : ''}${g.class}: ${g.message}`);
            label.title = `fingerprint ${g.fingerprint}`;
            return [label, fmt.format(g.count), shortTime(g.lastSeen)];
          })
        : [],
    );
  }

  /** The route's series and errors for a query, both asked for at once. */
  function fetchEndpoint(query) {
    const endpoint = fetch(`api/endpoint?${query}`, { credentials: 'same-origin' }).then((response) => {
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      return response.json();
    });
    // Errors are an extra: a dashboard without them (or a failed answer) leaves the table empty.
    const errors = fetch(`api/errors?${query}`, { credentials: 'same-origin' })
      .then((r) => (r.ok ? r.json() : null))
      .catch(() => null);
    const answers = Promise.all([endpoint, errors]);
    answers.catch(() => undefined); // awaited when the stats arrive; no unhandled rejection meanwhile
    return { query, answers };
  }

  // Started when the page asks for the stats of a view (pgpulse:query), used when they arrive (pgpulse:stats).
  let pending = null;
  window.addEventListener('pgpulse:query', (event) => {
    const { filters, query } = event.detail;
    pending = filters.route === undefined || filters.route === '' ? null : fetchEndpoint(query);
  });

  let generation = 0;
  window.addEventListener('pgpulse:stats', async (event) => {
    const { stats, filters, query } = event.detail;
    const load = ++generation;
    const route = filters.route;
    if (route === undefined || route === '') {
      section.hidden = true;
      return;
    }
    try {
      const started = pending && pending.query === query ? pending : fetchEndpoint(query);
      if (pending === started) pending = null;
      const [endpoint, errorList] = await started.answers;
      if (load !== generation) return;
      section.hidden = false;
      fillHeading(route, stats, endpoint);
      drawCharts(endpoint);
      fillTables(stats, endpoint);
      fillErrors(errorList);
    } catch (error) {
      if (load !== generation) return;
      section.hidden = false;
      fillHeading(route, stats, { series: [{ bytes: null }] });
      heading.append(el('p', `Could not load the endpoint's series: ${error.message}`, 'error'));
    }
  });
})();
