// pgpulse dashboard — plain browser JavaScript, no build step.
// Everything from the server is put in the DOM with textContent, never innerHTML.
(function () {
  'use strict';
  const tz = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  // Auth is an HttpOnly session cookie the server set after its login form; this script never sees the token.
  const $ = (id) => document.getElementById(id);
  const fmt = new Intl.NumberFormat();
  const LIVE_SECONDS = 120;
  const MAX_LIVE_ROWS = 100;

  let rangeMs = 3_600_000;
  let statsTimer;
  const charts = {};
  const perSecond = new Map(); // epoch second -> count
  let liveRows = 0;
  let queued = []; // raw event data waiting for the next frame, newest last
  let renderScheduled = false;
  const shownIds = new Set(); // request ids in the table, so a row never shows twice

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function ms(value) {
    if (value === null || value === undefined) return '–';
    return value >= 100 ? fmt.format(Math.round(value)) : value.toFixed(1);
  }

  function showError(message) {
    const node = $('error');
    node.hidden = !message;
    node.textContent = message || '';
  }

  async function api(path) {
    const response = await fetch(path, { credentials: 'same-origin' });
    // The session expired or the token changed: the page itself now answers with the login form.
    if (response.status === 401) location.reload();
    if (!response.ok) throw new Error(`${path.split('?')[0]}: HTTP ${response.status}`);
    return response.json();
  }

  function chart(id, series, data, opts = {}) {
    const target = $(id);
    const width = Math.max(300, target.clientWidth);
    if (!charts[id]) {
      charts[id] = new uPlot(
        {
          width,
          height: 220,
          series: [{}, ...series],
          axes: [
            { stroke: '#8b93a7', grid: { stroke: '#262b38' }, ticks: { stroke: '#262b38' }, values: timeLabels, space: 90 },
            { stroke: '#8b93a7', grid: { stroke: '#262b38' }, ticks: { stroke: '#262b38' }, size: 60 },
          ],
          scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
          legend: { live: true },
          ...opts,
        },
        data,
        target,
      );
    } else {
      charts[id].setData(data);
    }
  }

  // One line of x-axis labels, as precise as the visible span needs.
  function timeLabels(u, splits) {
    const span = u.scales.x.max - u.scales.x.min;
    const opts = span <= 600 ? { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false }
      : span <= 2 * 86_400 ? { hour: '2-digit', minute: '2-digit', hour12: false }
      : { month: 'short', day: 'numeric' };
    return splits.map((s) => new Date(s * 1000).toLocaleString([], opts));
  }

  function bucketLabel(seconds) {
    if (seconds % 86_400 === 0) return `${seconds / 86_400}-day`;
    if (seconds % 3_600 === 0) return `${seconds / 3_600}-hour`;
    if (seconds % 60 === 0) return `${seconds / 60}-minute`;
    return `${seconds}-second`;
  }

  function fillTable(id, headers, rows, cells, barOf = (r) => r.requests || 0) {
    const table = $(id);
    table.replaceChildren();
    const head = el('tr');
    headers.forEach((h, i) => head.append(el('th', h, i > 0 ? 'num' : undefined)));
    table.append(el('thead'));
    table.tHead.append(head);
    const body = el('tbody');
    if (rows.length === 0) {
      const tr = el('tr');
      const td = el('td', 'no data in this range', 'empty');
      td.colSpan = headers.length;
      tr.append(td);
      body.append(tr);
    }
    const max = Math.max(1, ...rows.map(barOf));
    for (const row of rows) {
      const tr = el('tr');
      cells(row).forEach((value, i) => {
        const td = el('td', undefined, i > 0 ? 'num' : undefined);
        if (i === 0) {
          const bar = el('span', undefined, 'bar');
          bar.style.width = `${Math.round((barOf(row) / max) * 60)}px`;
          td.append(bar, document.createTextNode(value));
          td.title = value;
        } else td.textContent = value;
        tr.append(td);
      });
      body.append(tr);
    }
    table.append(body);
  }

  function renderStats(stats) {
    const t = stats.totals;
    $('card-requests').textContent = fmt.format(t.requests);
    // Visitors may be null or an estimate when long ranges are answered from rollup tables.
    $('card-visitors').textContent = t.visitors === null || t.visitors === undefined ? '–' : `${stats.range.source === 'rollups' ? '≈' : ''}${fmt.format(t.visitors)}`;
    $('card-errors').textContent = `${(t.errorRate * 100).toFixed(2)}%`;
    $('card-p95').textContent = `${ms(t.p95)} ms`;

    const range = stats.range;
    const sampled = range.sampledPercent !== null && range.sampledPercent !== undefined && range.sampledPercent < 100;
    $('stats-source').textContent = range.source === 'rollups'
      ? `· from rollups, ${bucketLabel(range.bucketSeconds)} buckets${sampled ? `; paths, referrers and 404s from a ${range.sampledPercent.toFixed(1)}% sample` : ''}`
      : `· exact, ${bucketLabel(range.bucketSeconds)} buckets`;

    const xs = stats.series.map((p) => p.t / 1000);
    chart('chart-latency', [
      { label: 'p50', stroke: '#3ecf8e', width: 2, spanGaps: true, points: { show: true, size: 5 } },
      { label: 'p95', stroke: '#f5a524', width: 2, spanGaps: true, points: { show: true, size: 5 } },
      { label: 'p99', stroke: '#f25f5c', width: 2, spanGaps: true, points: { show: true, size: 5 } },
    ], [xs, stats.series.map((p) => p.p50), stats.series.map((p) => p.p95), stats.series.map((p) => p.p99)]);
    chart('chart-requests', [
      { label: 'requests', stroke: '#4f9cf9', fill: 'rgba(79,156,249,.15)', width: 2 },
      { label: '5xx', stroke: '#f25f5c', width: 1.5 },
    ], [xs, stats.series.map((p) => p.requests), stats.series.map((p) => p.errors)]);

    const route = (r) => r.route ?? '(no route)';
    fillTable('top-routes', ['Route', 'Requests', 'p95 ms', '5xx'], stats.topRoutes, (r) => [route(r), fmt.format(r.requests), ms(r.p95), fmt.format(r.errors)]);
    fillTable('slowest-routes', ['Route', 'p50 ms', 'p95 ms', 'p99 ms'], stats.slowestRoutes, (r) => [route(r), ms(r.p50), ms(r.p95), ms(r.p99)], (r) => r.p95 || 0);
    fillTable('top-paths', ['Path', 'Requests'], stats.topPaths, (r) => [r.key, fmt.format(r.requests)]);
    fillTable('referrers', ['Referrer', 'Requests'], stats.referrers, (r) => [r.key, fmt.format(r.requests)]);
    fillTable('devices', ['Device', 'Requests'], stats.devices, (r) => [r.key, fmt.format(r.requests)]);
    fillTable('not-found', ['Path', 'Requests'], stats.notFound, (r) => [r.key, fmt.format(r.requests)]);
    const status = Object.entries(t.status).map(([key, requests]) => ({ key, requests }));
    fillTable('status', ['Class', 'Requests'], status, (r) => [r.key, fmt.format(r.requests)]);
  }

  async function loadStats() {
    const to = Date.now();
    try {
      renderStats(await api(`api/stats?from=${to - rangeMs}&to=${to}&tz=${encodeURIComponent(tz)}`));
      showError('');
    } catch (error) {
      showError(`Could not load stats: ${error.message}`);
    }
  }

  function scheduleStats() {
    clearInterval(statsTimer);
    statsTimer = setInterval(loadStats, rangeMs <= 3_600_000 ? 5_000 : 30_000);
    loadStats();
  }

  function addLiveRow(row, fresh) {
    if (shownIds.has(row.request_id)) return;
    shownIds.add(row.request_id);
    const tbody = $('live-table').tBodies[0];
    const tr = el('tr', undefined, fresh ? 'fresh' : undefined);
    const time = new Date(row.inserted_at);
    const klass = `s${String(row.status_code)[0]}`;
    tr.append(
      el('td', time.toLocaleTimeString([], { hour12: false })),
      el('td', row.method),
      el('td', row.path),
      el('td', row.route ?? ''),
      el('td', row.status_code, klass),
      el('td', ms(row.duration_ms), 'num'),
      el('td', row.device_type),
    );
    tr.cells[2].title = row.path;
    tr.dataset.requestId = row.request_id;
    if (fresh) tbody.prepend(tr);
    else tbody.append(tr);
    while (tbody.rows.length > MAX_LIVE_ROWS) {
      shownIds.delete(tbody.rows[tbody.rows.length - 1].dataset.requestId);
      tbody.deleteRow(tbody.rows.length - 1);
    }
  }

  // At thousands of rows per second only the newest MAX_LIVE_ROWS are drawn, at most ten times a second.
  function renderQueued() {
    renderScheduled = false;
    const batch = queued.slice(-MAX_LIVE_ROWS);
    queued = [];
    for (const data of batch) addLiveRow(JSON.parse(data), true);
    $('live-count').textContent = `(${fmt.format(liveRows)} live since page load)`;
  }

  function tickLive() {
    const now = Math.floor(Date.now() / 1000);
    for (const second of perSecond.keys()) if (second < now - LIVE_SECONDS) perSecond.delete(second);
    const xs = [];
    const ys = [];
    for (let s = now - LIVE_SECONDS + 1; s <= now; s++) {
      xs.push(s);
      ys.push(perSecond.get(s) || 0);
    }
    $('card-rps').textContent = fmt.format(perSecond.get(now - 1) || 0);
    chart('chart-rps', [{ label: 'req/s', stroke: '#3ecf8e', fill: 'rgba(62,207,142,.15)', width: 2 }], [xs, ys]);
  }

  function connectStream() {
    const source = new EventSource('api/stream');
    source.onopen = () => {
      $('live').textContent = 'live';
      $('live').className = 'live on';
    };
    source.onerror = () => {
      $('live').textContent = 'reconnecting…';
      $('live').className = 'live off';
    };
    source.addEventListener('request', (event) => {
      const second = Math.floor(Date.now() / 1000);
      perSecond.set(second, (perSecond.get(second) || 0) + 1);
      liveRows++;
      queued.push(event.data);
      if (queued.length > 4 * MAX_LIVE_ROWS) queued = queued.slice(-MAX_LIVE_ROWS);
      if (!renderScheduled) {
        renderScheduled = true;
        // A timer rather than requestAnimationFrame, which stops in background tabs and would let the queue grow.
        setTimeout(renderQueued, 100);
      }
    });
  }

  async function loadRecent() {
    try {
      const { rows } = await api('api/recent?limit=50');
      for (const row of rows) addLiveRow(row, false);
    } catch (error) {
      showError(`Could not load recent requests: ${error.message}`);
    }
  }

  for (const button of document.querySelectorAll('#ranges button')) {
    button.addEventListener('click', () => {
      document.querySelectorAll('#ranges button').forEach((b) => b.classList.toggle('active', b === button));
      rangeMs = Number(button.dataset.range);
      scheduleStats();
    });
  }
  window.addEventListener('resize', () => {
    for (const [id, c] of Object.entries(charts)) c.setSize({ width: Math.max(300, $(id).clientWidth), height: 220 });
  });

  loadRecent().then(connectStream);
  scheduleStats();
  tickLive();
  setInterval(tickLive, 1000);
})();
