// pgpulse dashboard: errors (what broke, grouped by fingerprint). An Errors
// panel lists the error groups of the view's range and filters from
// GET /api/errors (new ones marked, counts, occurrences over time, routes);
// clicking one opens its detail from GET /api/errors/<fingerprint> (drawn by
// error-detail.js: the stack, figures, routes and the latest requests, linked
// to their trace and to the request detail dialog). Redrawn after each stats
// answer (the pgpulse:stats event of app.js). Loaded after app.js and
// error-detail.js (window.pgpulseApp, window.pgpulseErrorDetail); DOM by textContent only.
(() => {
  'use strict';
  const app = window.pgpulseApp;
  const { el, fmt } = app;
  const { render: renderDetail, sparkline, bucketLabel, time, shortTime, routeText, newBadge } = window.pgpulseErrorDetail;
  const DAY_MS = 86_400_000;

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
  // The options read as sentences ("new = first seen in …"); the control's own name says what it sets.
  sinceSelect.setAttribute('aria-label', 'Errors marked new');
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

  async function loadDetail(scrollTo) {
    if (!open || !last) return;
    const fingerprint = open;
    const q = query(last.range, last.stats.range.tz, last.filters);
    q.set('examples', '10');
    try {
      const d = await getJson(`api/errors/${fingerprint}?${q}`);
      if (open !== fingerprint) return;
      detail.hidden = false;
      renderDetail(detail, d, closeDetail);
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
