// pgpulse dashboard: the Alerts view (rules, states, history) and the firing
// alerts in the header, from GET /api/alerts: reloaded at once when the live
// stream pushes an `alert` event (app.js re-dispatches it as `pgpulse:alert`),
// and every 10 s in case the push is off or the stream is down. Kept apart
// from app.js; builds its DOM with textContent only (rule names, routes and
// error messages are data, never markup).
(() => {
  'use strict';
  const REFRESH_MS = 10_000;
  const el = (tag, attrs = {}, ...children) => {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
    for (const child of children) node.append(child);
    return node;
  };
  const time = (iso) => new Date(iso).toLocaleString();
  const subjectOf = (s) => (s.subject === '' ? 'all requests' : s.subject);
  const valueOf = (event) => {
    if (!event || event.value === null) return '–';
    if (event.kind === 'errorRate' || event.kind === 'trafficDrop') return `${(event.value * 100).toFixed(1)}%`;
    if (event.kind === 'p95') return `${Math.round(event.value)} ms`;
    return String(event.value);
  };

  const header = document.querySelector('header');
  const badge = el('a', { id: 'alerts-badge', class: 'alerts-badge', href: '#alerts', role: 'status', hidden: '' });
  header.insertBefore(badge, document.getElementById('live'));

  const rulesTable = el('table', { id: 'alert-rules' });
  const statesTable = el('table', { id: 'alert-states' });
  const historyTable = el('table', { id: 'alert-history' });
  const evaluator = el('small', { id: 'alert-evaluator' });
  const section = el(
    'section',
    { id: 'alerts', class: 'alerts', 'aria-labelledby': 'alerts-title' },
    el(
      'div',
      { class: 'panel wide' },
      el('h3', { id: 'alerts-title' }, 'Alerts ', evaluator),
      el('div', { class: 'scroll', tabindex: '0', role: 'region', 'aria-label': 'Alerts' }, statesTable),
    ),
    el(
      'div',
      { class: 'panel span3' },
      el('h3', {}, 'Rules'),
      el('div', { class: 'scroll', tabindex: '0', role: 'region', 'aria-label': 'Rules' }, rulesTable),
    ),
    el(
      'div',
      { class: 'panel span3' },
      el('h3', {}, 'History'),
      el('div', { class: 'scroll', tabindex: '0', role: 'region', 'aria-label': 'History' }, historyTable),
    ),
  );
  const main = document.getElementById('main');
  main.insertBefore(section, document.getElementById('error'));

  const fill = (table, head, rows) => {
    table.replaceChildren(el('thead', {}, el('tr', {}, ...head.map((h) => el('th', {}, h)))), el('tbody', {}, ...rows));
  };
  const row = (cells, cls) => el('tr', cls ? { class: cls } : {}, ...cells.map((c) => el('td', {}, c)));

  function draw(body) {
    const firing = body.firing;
    badge.hidden = firing.length === 0;
    badge.textContent = firing.length === 1 ? `1 alert firing: ${firing[0].rule}` : `${firing.length} alerts firing`;
    badge.title = firing.map((s) => `${s.rule} (${subjectOf(s)})`).join('\n');
    evaluator.textContent = body.evaluator ? `evaluated by ${body.evaluator.replace(/#[0-9a-f]+$/, '')}` : 'no process evaluating';
    const states = body.states.length > 0 ? body.states : [];
    fill(
      statesTable,
      ['State', 'Rule', 'Subject', 'Value', 'Since', 'Release'],
      states.length === 0
        ? [row(['no alert has fired yet', '', '', '', '', ''], 'muted')]
        : states.map((s) =>
            row(
              [s.state === 'firing' ? 'FIRING' : 'ok', s.rule, subjectOf(s), valueOf(s.event), time(s.since), s.event?.release ?? '–'],
              s.state === 'firing' ? 'firing' : '',
            ),
          ),
    );
    fill(
      rulesTable,
      ['Rule', 'Kind', 'Threshold', 'Window'],
      body.rules.map((r) => {
        const d = r.definition;
        const threshold = d.thresholdMs !== undefined ? `${d.thresholdMs} ms` : d.threshold !== undefined ? `${d.threshold * 100}%` : '–';
        return row([r.name, r.kind + (d.route ? ` (${d.route === '*' ? 'each route' : d.route})` : ''), threshold, `${d.windowMs / 60_000} min`]);
      }),
    );
    fill(
      historyTable,
      ['Time', 'Rule', 'State', 'Value'],
      body.history.map((e) =>
        row(
          [time(e.at), `${e.rule}${e.subject && e.kind !== 'newErrorGroup' ? ` ${e.subject}` : ''}`, e.state, valueOf(e)],
          e.state === 'firing' ? 'firing' : '',
        ),
      ),
    );
  }

  async function refresh() {
    try {
      const response = await fetch('api/alerts', { credentials: 'same-origin' });
      if (response.ok) draw(await response.json());
    } catch {
      // offline: the next refresh tries again
    }
  }
  void refresh();
  setInterval(refresh, REFRESH_MS);
  window.addEventListener('pgpulse:alert', () => void refresh());
})();
