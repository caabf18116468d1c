// pgpulse dashboard — plain browser JavaScript, no build step.
// Everything from the server is put in the DOM with textContent, never innerHTML.
(function () {
  'use strict';
  const browserTz = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  // Presets are "now" ranges: they move with time. A custom from/to range stays put.
  const PRESETS = { '5m': 300_000, '1h': 3_600_000, '24h': 86_400_000, '7d': 604_800_000, '30d': 2_592_000_000 };
  const FILTER_KEYS = ['route', 'path', 'referrer', 'device', 'status', 'node', 'browser', 'os', 'country', 'consumer', 'attribute', 'visitor', 'session'];
  const FILTER_LABELS = {
    route: 'Route',
    path: 'Path',
    referrer: 'Referrer',
    device: 'Device',
    status: 'Status',
    node: 'Node',
    browser: 'Browser',
    os: 'OS',
    country: 'Country',
    consumer: 'Consumer',
    attribute: 'Attribute',
    visitor: 'Visitor',
    session: 'Session',
  };
  // Auth is an HttpOnly session cookie the server set after its login form; this script never sees the token.
  const $ = (id) => document.getElementById(id);
  const fmt = new Intl.NumberFormat();
  const LIVE_SECONDS = 120;
  const MAX_LIVE_ROWS = 100;

  // Everything the view shows lives in the URL, so a view can be shared and bookmarked.
  const view = readView(new URLSearchParams(location.search));
  let statsTimer;
  let lastStats = {}; // panel id -> { headers, rows } for the CSV download
  const charts = {};
  const perSecond = new Map(); // epoch second -> count
  let liveRows = 0;
  const filterValues = new WeakMap(); // filter button -> [key, value]
  document.addEventListener('click', (event) => {
    const button = event.target instanceof Element ? event.target.closest('button.filter') : null;
    const filter = button && filterValues.get(button);
    if (filter) addFilter(filter[0], filter[1]);
  });
  const hasFilters = () => FILTER_KEYS.some((k) => view.filters[k] !== undefined);
  let queued = []; // raw event data waiting for the next frame, newest last
  let renderScheduled = false;
  const shownIds = new Set(); // request ids in the table, so a row never shows twice
  let traceUrl = null; // trace link template from /api/recent (`traceUrl` option), null for no links

  function readView(search) {
    const filters = {};
    for (const key of FILTER_KEYS) if (search.has(key)) filters[key] = search.get(key);
    const from = Date.parse(search.get('from') || '');
    const to = Date.parse(search.get('to') || '');
    const fixed = Number.isFinite(from) && Number.isFinite(to) && from < to ? { from, to } : null;
    const range = PRESETS[search.get('range')] ? search.get('range') : '1h';
    const tz = validTz(search.get('tz')) || browserTz;
    return { range, fixed, tz, compare: search.get('compare') === '1', filters };
  }

  function validTz(tz) {
    if (!tz) return null;
    try {
      return new Intl.DateTimeFormat('en', { timeZone: tz }).resolvedOptions().timeZone;
    } catch {
      return null;
    }
  }

  function viewSearch() {
    const search = new URLSearchParams();
    if (view.fixed) {
      search.set('from', new Date(view.fixed.from).toISOString());
      search.set('to', new Date(view.fixed.to).toISOString());
    } else search.set('range', view.range);
    if (view.tz !== browserTz) search.set('tz', view.tz);
    if (view.compare) search.set('compare', '1');
    for (const key of FILTER_KEYS) if (view.filters[key] !== undefined) search.set(key, view.filters[key]);
    return search;
  }

  /** Writes the view to the address bar (a new history entry) and redraws. */
  function changeView(mutate) {
    mutate(view);
    history.pushState(null, '', `${location.pathname}?${viewSearch()}`);
    applyView();
  }

  function currentRange() {
    if (view.fixed) return { from: view.fixed.from, to: view.fixed.to };
    const to = Date.now();
    return { from: to - PRESETS[view.range], to };
  }

  /** Query string of the stats/export APIs: range, time zone and filters. */
  function apiQuery(range) {
    const q = new URLSearchParams({ from: String(range.from), to: String(range.to), tz: view.tz });
    for (const key of FILTER_KEYS) if (view.filters[key] !== undefined) q.set(key, view.filters[key]);
    return q.toString();
  }

  /** Query string of the live APIs (stream, recent rows): the filters only. The server filters the rows. */
  function filterQuery() {
    const q = new URLSearchParams();
    for (const key of FILTER_KEYS) if (view.filters[key] !== undefined) q.set(key, view.filters[key]);
    return q.toString();
  }

  // The From/To inputs hold wall-clock times in the SELECTED time zone, not the browser's.
  const zoneFormats = new Map();
  /** Year, month, day, hour, minute, second of instant `ms` on the clocks of `tz`. */
  function wallClock(ms, tz) {
    let format = zoneFormats.get(tz);
    if (!format) {
      const two = '2-digit';
      format = new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: two, day: two, hour: two, minute: two, second: two });
      zoneFormats.set(tz, format);
    }
    const parts = {};
    for (const { type, value } of format.formatToParts(ms)) parts[type] = value;
    return parts;
  }

  /** How far the clocks of `tz` are ahead of UTC at instant `ms`, in ms (+05:30 → 19,800,000). */
  function zoneOffset(ms, tz) {
    const p = wallClock(ms, tz);
    return Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day), Number(p.hour), Number(p.minute), Number(p.second)) - Math.floor(ms / 1000) * 1000;
  }

  /** The `datetime-local` value showing instant `ms` in `tz`. */
  function toZoneInput(ms, tz) {
    const p = wallClock(ms, tz);
    return `${p.year.padStart(4, '0')}-${p.month}-${p.day}T${p.hour}:${p.minute}`;
  }

  /**
   * The instant a `datetime-local` value means in `tz` (NaN if unreadable). A time that
   * happens twice (clocks going back) is the earlier one; a time skipped by clocks going
   * forward is read with the offset before the change (02:30 becomes 03:30), as Temporal does.
   */
  function fromZoneInput(value, tz) {
    const m = /^(\d{4,})-(\d\d)-(\d\d)T(\d\d):(\d\d)(?::(\d\d))?/.exec(value);
    if (!m) return NaN;
    const wall = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6] || 0));
    const before = zoneOffset(wall - 86_400_000, tz);
    const after = zoneOffset(wall + 86_400_000, tz);
    const matching = [wall - before, wall - after].filter((t) => t + zoneOffset(t, tz) === wall).sort((a, b) => a - b);
    return matching.length ? matching[0] : wall - before;
  }

  function applyView() {
    document.querySelectorAll('#ranges button').forEach((b) => {
      const active = !view.fixed && b.dataset.range === view.range;
      b.classList.toggle('active', active);
      b.setAttribute('aria-pressed', String(active));
    });
    const range = currentRange();
    $('range-from').value = toZoneInput(range.from, view.tz);
    $('range-to').value = toZoneInput(range.to, view.tz);
    $('custom-range').classList.toggle('active', !!view.fixed);
    $('tz').value = view.tz;
    $('compare').checked = view.compare;
    renderChips();
    // The live table and stream show only rows matching the filters: asked again of the server when they change.
    if (filterQuery() !== liveFilters) startLive();
    scheduleStats();
  }

  function renderChips() {
    const chips = $('chips');
    chips.replaceChildren();
    const keys = FILTER_KEYS.filter((k) => view.filters[k] !== undefined);
    $('filter-bar').hidden = keys.length === 0;
    for (const key of keys) {
      const li = el('li', undefined, 'chip');
      const value = view.filters[key] === '' ? '(no route)' : key === 'country' ? countryLabel(view.filters[key]) : view.filters[key];
      li.append(el('span', `${FILTER_LABELS[key]}: `, 'muted'), el('span', value));
      const remove = el('button', '×', 'remove');
      remove.type = 'button';
      remove.setAttribute('aria-label', `Remove filter ${FILTER_LABELS[key]}: ${value}`);
      remove.addEventListener('click', () => changeView((v) => delete v.filters[key]));
      li.append(remove);
      chips.append(li);
    }
  }

  function addFilter(key, value) {
    changeView((v) => {
      v.filters[key] = value;
    });
  }

  // Country names in the page's language without a dependency (Intl.DisplayNames), with the code. No flag
  // emoji: Windows and many Linux desktops have no glyphs for them and would show two boxes.
  const regionNames = typeof Intl.DisplayNames === 'function' ? new Intl.DisplayNames(undefined, { type: 'region' }) : null;
  function countryLabel(code) {
    const upper = String(code).toUpperCase();
    let name = upper;
    try {
      name = (regionNames && regionNames.of(upper)) || upper;
    } catch {
      // Not a region code Intl knows: the code alone.
    }
    return name === upper ? upper : `${name} (${upper})`;
  }

  /** A cell that filters the page when clicked (a real button, so the keyboard reaches it). */
  function filterButton(key, value, text) {
    const button = el('button', text, 'filter');
    button.type = 'button';
    button.title = `Filter by ${FILTER_LABELS[key].toLowerCase()}: ${text}`;
    // One delegated listener handles every filter button (the live table adds hundreds a second).
    filterValues.set(button, [key, value]);
    return button;
  }

  // The server's CSV rule (csv-cell.js, made from src/dashboard/csv-cell.ts): formula-like cells get a leading '.
  const csvCell = window.pgpulseCsvCell;

  /** The header and body cells a table shows, as text (its empty-state row left out). */
  function shownTable(table) {
    const headers = Array.from(table.querySelectorAll('thead th'), (th) => th.textContent);
    const rows = Array.from(table.querySelectorAll('tbody tr'))
      .filter((tr) => !tr.querySelector('td.empty'))
      .map((tr) => Array.from(tr.querySelectorAll('td'), (td) => td.textContent));
    return { headers, rows };
  }

  /** Downloads a panel's table as CSV, built from the data it shows (the views in their own files: from the table itself). */
  function downloadCsv(id) {
    const data = lastStats[id] ?? (document.getElementById(id) ? shownTable(document.getElementById(id)) : undefined);
    if (!data) return;
    const lines = [data.headers.map(csvCell).join(','), ...data.rows.map((r) => r.map(csvCell).join(','))];
    const link = el('a');
    link.href = URL.createObjectURL(new Blob([`${lines.join('\r\n')}\r\n`], { type: 'text/csv' }));
    link.download = `pgpulse-${id}.csv`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  }

  function delta(id, current, previous, higherIsBad) {
    const node = $(id);
    node.className = 'delta';
    // Nothing to compare when this period has no figure (say visitors of a filter read from rollups, shown as –).
    if (current === null || current === undefined) {
      node.textContent = '';
      return;
    }
    if (previous === null || previous === undefined) {
      node.textContent = 'no previous data';
      return;
    }
    if (previous === 0) {
      node.textContent = current === 0 ? '= previous period' : 'new vs previous period';
      return;
    }
    const change = (current - previous) / previous;
    const arrow = change > 0 ? '▲' : change < 0 ? '▼' : '=';
    node.textContent = `${arrow} ${Math.abs(change * 100).toFixed(1)}% vs previous period`;
    if (Math.abs(change) >= 0.005) node.classList.add(change > 0 === higherIsBad ? 'worse' : 'better');
  }

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

  /** Options of the charts over the selected range: release markers (releases.js) when loaded. */
  function rangeChartOptions() {
    return { plugins: window.pgpulseReleases ? [window.pgpulseReleases.markers()] : [] };
  }

  // One line of x-axis labels, as precise as the visible span needs.
  function timeLabels(u, splits) {
    const span = u.scales.x.max - u.scales.x.min;
    const opts =
      span <= 600
        ? { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false }
        : span <= 2 * 86_400
          ? { hour: '2-digit', minute: '2-digit', hour12: false }
          : { month: 'short', day: 'numeric' };
    return splits.map((s) => new Date(s * 1000).toLocaleString([], { ...opts, timeZone: view.tz }));
  }

  function bucketLabel(seconds) {
    if (seconds % 86_400 === 0) return `${seconds / 86_400}-day`;
    if (seconds % 3_600 === 0) return `${seconds / 3_600}-hour`;
    if (seconds % 60 === 0) return `${seconds / 60}-minute`;
    return `${seconds}-second`;
  }

  function fillTable(id, headers, rows, cells, barOf = (r) => r.requests || 0, filterOf = undefined, classOf = undefined) {
    const table = $(id);
    lastStats[id] = { headers, rows: rows.map(cells) };
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
      const tr = el('tr', undefined, classOf && classOf(row));
      cells(row).forEach((value, i) => {
        const td = el('td', undefined, i > 0 ? 'num' : undefined);
        if (i === 0) {
          const bar = el('span', undefined, 'bar');
          // The bar's share of its full width; set on the cell, whose filter button leaves room for the bar (style.css).
          td.style.setProperty('--share', (barOf(row) / max).toFixed(3));
          const filter = filterOf && filterOf(row);
          td.append(bar, filter ? filterButton(filter[0], filter[1], value) : document.createTextNode(value));
          td.title = value;
        } else td.textContent = value;
        tr.append(td);
      });
      body.append(tr);
    }
    table.append(body);
  }

  function renderStats(stats, previous) {
    const t = stats.totals;
    const p = previous && previous.totals;
    delta('delta-requests', t.requests, p ? p.requests : null, false);
    delta('delta-visitors', t.visitors, p ? p.visitors : null, false);
    delta('delta-errors', t.errorRate, p && p.requests ? p.errorRate : null, true);
    delta('delta-p95', t.p95, p ? p.p95 : null, true);
    $('card-requests').textContent = fmt.format(t.requests);
    // Visitors may be null or an estimate when long ranges are answered from rollup tables.
    $('card-visitors').textContent =
      t.visitors === null || t.visitors === undefined
        ? '–'
        : `${stats.range.source === 'rollups' || stats.range.visitorsSampled ? '≈' : ''}${fmt.format(t.visitors)}`;
    $('card-errors').textContent = `${(t.errorRate * 100).toFixed(2)}%`;
    $('card-p95').textContent = `${ms(t.p95)} ms`;
    // Response bytes (unknown sizes count 0) and throughput over the range; sources without them show –.
    const hasBytes = typeof t.bytes === 'number';
    $('card-bytes').textContent = hasBytes ? bytes(t.bytes) : '–';
    $('card-throughput').textContent = hasBytes ? `${bytes(t.bytesPerSecond)}/s over the range` : '';
    $('stats-source').textContent = sourceCaption(stats.range);

    const xs = stats.series.map((p) => p.t / 1000);
    // A bucket without requests has no latency: null, and the lines break there instead of joining across idle time.
    const latency = (key) => stats.series.map((p) => (p.requests === 0 ? null : p[key]));
    chart(
      'chart-latency',
      [
        { label: 'p50', stroke: '#3ecf8e', width: 2, spanGaps: false, points: { show: true, size: 5 } },
        { label: 'p95', stroke: '#f5a524', width: 2, spanGaps: false, points: { show: true, size: 5 } },
        { label: 'p99', stroke: '#f25f5c', width: 2, spanGaps: false, points: { show: true, size: 5 } },
      ],
      [xs, latency('p50'), latency('p95'), latency('p99')],
      rangeChartOptions(),
    );
    // The previous period is drawn on the same x positions (bucket i over bucket i), dashed.
    const overlay = view.compare && previous;
    const key = overlay ? 'chart-requests-compare' : 'chart-requests-plain';
    if (charts['chart-requests'] && charts['chart-requests'].pgpulseKey !== key) {
      charts['chart-requests'].destroy();
      delete charts['chart-requests'];
    }
    const requestSeries = [
      { label: 'requests', stroke: '#4f9cf9', fill: 'rgba(79,156,249,.15)', width: 2 },
      { label: '5xx', stroke: '#f25f5c', width: 1.5 },
    ];
    const requestData = [xs, stats.series.map((q) => q.requests), stats.series.map((q) => q.errors)];
    if (overlay) {
      requestSeries.push({ label: 'previous period', stroke: '#c3c9d6', width: 1.5, dash: [6, 4] });
      requestData.push(stats.series.map((_, i) => (previous.series[i] ? previous.series[i].requests : null)));
    }
    chart('chart-requests', requestSeries, requestData, rangeChartOptions());
    charts['chart-requests'].pgpulseKey = key;

    const route = (r) => r.route ?? '(no route)';
    const routeFilter = (r) => ['route', r.route ?? ''];
    // Visitors per value; '–' where the source does not count them (rollup lists, a sample).
    const visitors = (r) => (r.visitors === null || r.visitors === undefined ? '–' : fmt.format(r.visitors));
    const count = (n) => (n === null || n === undefined ? '–' : fmt.format(n));
    fillTable(
      'top-routes',
      ['Route', 'Requests', 'p95 ms', '4xx', '5xx'],
      stats.topRoutes,
      (r) => [route(r), fmt.format(r.requests), ms(r.p95), count(r.clientErrors), fmt.format(r.errors)],
      undefined,
      routeFilter,
    );
    fillTable(
      'slowest-routes',
      ['Route', 'p50 ms', 'p95 ms', 'p99 ms'],
      stats.slowestRoutes,
      (r) => [route(r), ms(r.p50), ms(r.p95), ms(r.p99)],
      (r) => r.p95 || 0,
      routeFilter,
    );
    fillTable(
      'top-paths',
      ['Path', 'Visitors', 'Requests'],
      stats.topPaths,
      (r) => [r.key, visitors(r), fmt.format(r.requests)],
      undefined,
      (r) => ['path', r.key],
    );
    fillTable(
      'referrers',
      ['Host', 'Visitors', 'Requests'],
      stats.referrers,
      (r) => [r.key, visitors(r), fmt.format(r.requests)],
      undefined,
      (r) => ['referrer', r.key],
    );
    fillTable(
      'devices',
      ['Device', 'Visitors', 'Requests'],
      stats.devices,
      (r) => [r.key, visitors(r), fmt.format(r.requests)],
      undefined,
      (r) => ['device', r.key],
    );
    fillTable(
      'browsers',
      ['Browser', 'Visitors', 'Requests'],
      stats.browsers || [],
      (r) => [r.key, visitors(r), fmt.format(r.requests)],
      undefined,
      (r) => ['browser', r.key],
    );
    fillTable(
      'operating-systems',
      ['OS', 'Visitors', 'Requests'],
      stats.operatingSystems || [],
      (r) => [r.key, visitors(r), fmt.format(r.requests)],
      undefined,
      (r) => ['os', r.key],
    );
    fillTable(
      'countries',
      ['Country', 'Visitors', 'Requests'],
      stats.countries || [],
      (r) => [countryLabel(r.key), visitors(r), fmt.format(r.requests)],
      undefined,
      (r) => ['country', r.key],
    );
    fillTable(
      'nodes',
      ['Node', 'Visitors', 'Requests'],
      stats.nodes || [],
      (r) => [r.key, visitors(r), fmt.format(r.requests)],
      undefined,
      (r) => ['node', r.key],
    );
    fillTable(
      'not-found',
      ['Path', 'Visitors', 'Requests'],
      stats.notFound,
      (r) => [r.key, visitors(r), fmt.format(r.requests)],
      undefined,
      (r) => ['path', r.key],
    );
    // Each class with requests, then its exact codes (where the source keeps them), each a filter.
    const codes = stats.statusCodes || [];
    const status = [];
    for (const [key, requests] of Object.entries(t.status)) {
      if (requests === 0) continue;
      status.push({ key, requests, visitors: undefined, code: false });
      for (const c of codes) if (c.key[0] === key[0]) status.push({ ...c, code: true });
    }
    fillTable(
      'status',
      ['Status', 'Visitors', 'Requests'],
      status,
      (r) => [r.key, r.code ? visitors(r) : '', fmt.format(r.requests)],
      undefined,
      (r) => ['status', r.key],
      (r) => (r.code ? 'code' : undefined),
    );
  }

  const BYTE_UNITS = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'];
  /** Bytes in decimal units (1 KB = 1,000 B), three significant digits. */
  function bytes(n) {
    let value = Number(n) || 0;
    let unit = 0;
    while (value >= 1000 && unit < BYTE_UNITS.length - 1) {
      value /= 1000;
      unit++;
    }
    return `${unit === 0 ? Math.round(value) : value.toPrecision(3)} ${BYTE_UNITS[unit]}`;
  }

  /** Where the numbers come from and how exact they are: every approximation left, with its bound. */
  function sourceCaption(range) {
    const buckets = `${bucketLabel(range.bucketSeconds)} buckets`;
    const sampled = range.sampledPercent !== null && range.sampledPercent !== undefined && range.sampledPercent < 100;
    if (range.source === 'rollups') {
      const lists = hasFilters() ? 'breakdowns' : 'paths, referrers and 404s';
      return `· from rollups, ${buckets}; visitors ≈ (±3%)${sampled ? `; ${lists} from a ${range.sampledPercent.toFixed(1)}% sample` : ''}`;
    }
    const notes = [];
    if (range.topKeysBound) notes.push(`path, 404 and referrer URL counts may miss up to ${fmt.format(range.topKeysBound)} requests`);
    if (sampled) {
      const margin = range.sampledMargin ? ` (each count ±${fmt.format(range.sampledMargin)} requests, all at 95%)` : '';
      notes.push(`paths and 404s from a ${range.sampledPercent.toFixed(1)}% sample${margin}`);
    }
    if (range.visitorsSampled) notes.push('some visitor counts from a 1/16 sample (within 2%)');
    return `· exact${notes.length ? ` except: ${notes.join('; ')}` : ''}, ${buckets}`;
  }

  // Each view (range, filters, zone) gets a number: an answer for an older view never overwrites a newer
  // one. The periodic refresh of a view starts no load while one for it is still out: otherwise, once an
  // answer takes longer than the refresh interval (a raw-row range on a busy server), every answer would be
  // overtaken by the next refresh before it arrived, none would ever be shown, and the loads would pile up.
  let statsView = 0;
  let statsLoading = null; // number of the view whose load is out, or null

  async function loadStats() {
    const load = statsView;
    if (statsLoading === load) return;
    statsLoading = load;
    const range = currentRange();
    const length = range.to - range.from;
    const query = apiQuery(range);
    $('export-csv').href = `api/export?format=csv&${query}`;
    $('export-ndjson').href = `api/export?format=ndjson&${query}`;
    // Views that load more for the same query (endpoint.js) start now, beside the stats, not after them.
    window.dispatchEvent(new CustomEvent('pgpulse:query', { detail: { range, query, filters: { ...view.filters } } }));
    try {
      // The previous period of the same length, for the change on each card and the overlay.
      const [stats, previous] = await Promise.all([
        api(`api/stats?${query}`),
        api(`api/stats?${apiQuery({ from: range.from - length, to: range.from })}`).catch(() => null),
      ]);
      // A slow answer (say the 30-day range just left) arriving after the view changed is dropped.
      if (load !== statsView) return;
      renderStats(stats, previous);
      // Views in their own files (consumers.js, …) draw from the same answer.
      window.dispatchEvent(new CustomEvent('pgpulse:stats', { detail: { stats, range, query, filters: { ...view.filters } } }));
      showError('');
      if (window.pgpulseReleases) void window.pgpulseReleases.refresh(range);
    } catch (error) {
      if (load === statsView) showError(`Could not load stats: ${error.message}`);
    } finally {
      if (statsLoading === load) statsLoading = null;
    }
  }

  function scheduleStats() {
    clearInterval(statsTimer);
    statsView++;
    // A fixed range does not change: load it once.
    if (!view.fixed) statsTimer = setInterval(loadStats, PRESETS[view.range] <= 3_600_000 ? 5_000 : 30_000);
    loadStats();
  }

  function addLiveRow(row, fresh) {
    if (shownIds.has(row.request_id)) return;
    shownIds.add(row.request_id);
    const tbody = $('live-table').tBodies[0];
    const tr = el('tr', undefined, fresh ? 'fresh' : undefined);
    const time = new Date(row.inserted_at);
    const klass = `s${String(row.status_code)[0]}`;
    const cell = (child, className) => {
      const td = el('td', undefined, className);
      td.append(child);
      return td;
    };
    tr.append(
      el('td', time.toLocaleTimeString([], { hour12: false, timeZone: view.tz })),
      el('td', row.method),
      cell(filterButton('path', row.path, row.path)),
      row.route == null ? el('td', '') : cell(filterButton('route', row.route, row.route)),
      cell(filterButton('status', `${String(row.status_code)[0]}xx`, String(row.status_code)), klass),
      el('td', ms(row.duration_ms), 'num'),
      cell(filterButton('device', row.device_type, row.device_type)),
      cell(filterButton('node', row.node_id, row.node_id)),
    );
    // Long values are cut off with an ellipsis: the cell's title holds the whole value.
    for (const td of tr.cells) td.title = td.textContent;
    if (traceUrl && row.trace_id) tr.cells[0].append(' ', traceLink(row));
    tr.dataset.requestId = row.request_id;
    // The time opens the request's detail view (request.js).
    if (window.pgpulseRequest) window.pgpulseRequest.link(tr, row);
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
    showLiveCount();
  }

  function showLiveCount() {
    $('live-count').textContent = liveFilters
      ? `(${fmt.format(liveRows)} live matching the filters since they were set)`
      : `(${fmt.format(liveRows)} live since page load)`;
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

  // The live part of the page (stream, table, req/s) for the filters in `liveFilters`: the server sends only matching rows.
  let liveFilters = null;
  let liveSource = null;
  let liveGeneration = 0;

  /** (Re)starts the live part for the current filters: newest matching rows first, then the filtered stream. */
  function startLive() {
    liveFilters = filterQuery();
    const generation = ++liveGeneration;
    if (liveSource) liveSource.close();
    liveSource = null;
    liveRows = 0;
    queued = [];
    perSecond.clear();
    shownIds.clear();
    $('live-table').tBodies[0].replaceChildren();
    showLiveCount();
    loadRecent(generation).then(() => generation === liveGeneration && connectStream(generation));
  }

  function connectStream(generation) {
    const source = new EventSource(`api/stream${liveFilters ? `?${liveFilters}` : ''}`);
    liveSource = source;
    source.onopen = () => {
      $('live').textContent = 'live';
      $('live').className = 'live on';
    };
    source.onerror = () => {
      $('live').textContent = 'reconnecting…';
      $('live').className = 'live off';
    };
    source.addEventListener('request', (event) => {
      if (generation !== liveGeneration) return;
      liveRows++;
      const second = Math.floor(Date.now() / 1000);
      perSecond.set(second, (perSecond.get(second) || 0) + 1);
      queued.push(event.data);
      if (queued.length > 4 * MAX_LIVE_ROWS) queued = queued.slice(-MAX_LIVE_ROWS);
      if (!renderScheduled) {
        renderScheduled = true;
        // A timer rather than requestAnimationFrame, which stops in background tabs and would let the queue grow.
        setTimeout(renderQueued, 100);
      }
    });
    // An alert fired or resolved somewhere (see the dashboard's alertsWatchMs): alerts.js redraws at once.
    source.addEventListener('alert', () => window.dispatchEvent(new CustomEvent('pgpulse:alert')));
  }

  // Link of a row to its trace: the dashboard's `traceUrl` template (checked by the server: http(s) only), ids URL-encoded.
  function traceLink(row) {
    const link = el('a', 'trace', 'trace');
    link.href = traceUrl.replaceAll('{trace_id}', encodeURIComponent(row.trace_id)).replaceAll('{span_id}', encodeURIComponent(row.span_id ?? ''));
    link.target = '_blank';
    link.rel = 'noopener noreferrer';
    link.title = `Trace ${row.trace_id}`;
    return link;
  }

  async function loadRecent(generation) {
    try {
      const recent = await api(`api/recent?limit=50${liveFilters ? `&${liveFilters}` : ''}`);
      if (generation !== liveGeneration) return;
      traceUrl = recent.traceUrl;
      for (const row of recent.rows) addLiveRow(row, false);
    } catch (error) {
      showError(`Could not load recent requests: ${error.message}`);
    }
  }

  for (const button of document.querySelectorAll('#ranges button')) {
    button.addEventListener('click', () =>
      changeView((v) => {
        v.range = button.dataset.range;
        v.fixed = null;
      }),
    );
  }
  $('custom-range').addEventListener('submit', (event) => {
    event.preventDefault();
    const from = fromZoneInput($('range-from').value, view.tz);
    const to = fromZoneInput($('range-to').value, view.tz);
    if (!(from < to)) return showError('The custom range must end after it starts.');
    changeView((v) => {
      v.fixed = { from, to };
    });
  });
  const zones = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : [];
  for (const zone of [...new Set([browserTz, 'UTC', view.tz, ...zones])]) $('tz').append(new Option(zone === browserTz ? `${zone} (browser)` : zone, zone));
  $('tz').addEventListener('change', () => changeView((v) => (v.tz = $('tz').value)));
  $('compare').addEventListener('change', () => changeView((v) => (v.compare = $('compare').checked)));
  $('clear-filters').addEventListener('click', () => changeView((v) => (v.filters = {})));
  window.addEventListener('popstate', () => {
    Object.assign(view, readView(new URLSearchParams(location.search)));
    applyView();
  });
  /** Puts a CSV button for `table` into the panel's `heading` (`name`: what its label calls the table). */
  function csvButton(heading, table, name = heading.textContent) {
    const button = el('button', 'CSV', 'csv');
    button.type = 'button';
    button.setAttribute('aria-label', `Download ${name} as CSV`);
    button.addEventListener('click', () => downloadCsv(table.id));
    heading.append(button);
  }
  for (const table of document.querySelectorAll('.breakdowns table')) csvButton(table.previousElementSibling, table);
  window.addEventListener('resize', () => {
    for (const [id, c] of Object.entries(charts)) c.setSize({ width: Math.max(300, $(id).clientWidth), height: 220 });
  });

  // What the views in their own files share with this page: its charts (sized and zoned like these), filter cells and formats.
  window.pgpulseApp = {
    chart: (id, series, data, opts = {}) => chart(id, series, data, { ...rangeChartOptions(), ...opts }),
    dropChart: (id) => {
      if (charts[id]) charts[id].destroy();
      delete charts[id];
    },
    filterButton,
    // A CSV button in a panel's heading, downloading the table as shown.
    csvButton,
    // The live table's trace link of a row, null while the dashboard has no `traceUrl` (or the row no trace id).
    traceLink: (row) => (traceUrl && row.trace_id ? traceLink(row) : null),
    el,
    ms,
    bytes,
    fmt,
  };

  // The first loads start once every script of the page has run: the views in their own files (request.js,
  // endpoint.js…) hook rows and events this page makes, and a fast first answer must not come before them.
  function start() {
    applyView();
    tickLive();
    setInterval(tickLive, 1000);
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start, { once: true });
  else start();
})();
