// pgpulse dashboard: consumers (who calls the API, the `consumer` capture
// option). A Consumers panel lists the top consumers of the range from the
// `consumers` of GET /api/stats; clicking one sets the consumer filter, and the
// page becomes that consumer's page: a heading with its name, group and figures
// over the existing cards, charts, top routes and newest requests, which all
// follow the filter. Loaded after app.js (window.pgpulseApp); DOM by textContent only.
(() => {
  'use strict';
  const app = window.pgpulseApp;
  const { el, fmt, ms, bytes } = app;

  const panel = el('div', undefined, 'panel wide consumers');
  panel.id = 'consumers-panel';
  const title = el('h3', 'Consumers');
  const caption = el('small', '');
  caption.id = 'consumers-caption';
  title.append(' ', caption);
  const table = el('table');
  table.id = 'consumers';
  const scroll = el('div', undefined, 'scroll');
  scroll.tabIndex = 0;
  scroll.setAttribute('role', 'region');
  scroll.setAttribute('aria-label', 'Consumers');
  scroll.append(table);
  panel.append(title, scroll);
  document.querySelector('.breakdowns').prepend(panel);
  app.csvButton(title, table, 'Consumers');

  // The consumer page's heading: shown while the consumer filter is set.
  const heading = el('section', undefined, 'panel consumer-heading');
  heading.id = 'consumer-heading';
  heading.hidden = true;
  document.getElementById('main').prepend(heading);

  const HEADERS = ['Consumer', 'Group', 'Requests', '4xx', '5xx', 'p50 ms', 'p95 ms', 'p99 ms', 'Bytes', 'Last seen'];
  const label = (c) => (c.name ? `${c.name} (${c.id})` : c.id);
  const time = (iso) => new Date(iso).toLocaleString();

  function fillTable(consumers) {
    const head = el('tr');
    HEADERS.forEach((h, i) => head.append(el('th', h, i > 1 ? 'num' : undefined)));
    const thead = el('thead');
    thead.append(head);
    const body = el('tbody');
    if (consumers.length === 0) {
      const td = el('td', 'no consumers in this range (the consumer capture option names them)', 'empty');
      td.colSpan = HEADERS.length;
      const tr = el('tr');
      tr.append(td);
      body.append(tr);
    }
    const max = Math.max(1, ...consumers.map((c) => c.requests));
    for (const c of consumers) {
      const tr = el('tr');
      tr.dataset.consumer = c.id;
      const first = el('td');
      const bar = el('span', undefined, 'bar');
      first.style.setProperty('--share', (c.requests / max).toFixed(3)); // the bar's share; the button leaves it room (style.css)
      first.append(bar, app.filterButton('consumer', c.id, label(c)));
      first.title = label(c);
      tr.append(first, el('td', c.group ?? ''));
      for (const value of [fmt.format(c.requests), fmt.format(c.clientErrors), fmt.format(c.errors), ms(c.p50), ms(c.p95), ms(c.p99), bytes(c.bytes)]) {
        tr.append(el('td', value, 'num'));
      }
      tr.append(el('td', time(c.lastSeen), 'num'));
      body.append(tr);
    }
    table.replaceChildren(thead, body);
  }

  /** The heading of the consumer page: who, and their figures over the range (errors as shares of their requests). */
  function fillHeading(id, consumer) {
    heading.hidden = false;
    const h2 = el('h2', `Consumer ${consumer && consumer.name ? consumer.name : id}`);
    const facts = el('p', undefined, 'muted');
    facts.append(`id ${id}`);
    if (consumer && consumer.group) facts.append(` · group ${consumer.group}`);
    if (consumer) facts.append(` · last seen ${time(consumer.lastSeen)}`);
    const figures = el('dl', undefined, 'figures');
    const add = (name, value) => {
      const item = el('div');
      item.append(el('dt', name), el('dd', value));
      figures.append(item);
    };
    if (consumer) {
      const share = (n) => `${((n / Math.max(1, consumer.requests)) * 100).toFixed(2)}%`;
      add('Requests', fmt.format(consumer.requests));
      add('Error rate (5xx)', share(consumer.errors));
      add('4xx', share(consumer.clientErrors));
      add('p50 / p95 / p99 ms', `${ms(consumer.p50)} / ${ms(consumer.p95)} / ${ms(consumer.p99)}`);
      add('Response bytes', bytes(consumer.bytes));
    } else facts.append(' · no requests in this range');
    heading.replaceChildren(h2, facts, figures);
  }

  window.addEventListener('pgpulse:stats', (event) => {
    const { stats, filters } = event.detail;
    const consumers = stats.consumers || [];
    const count = stats.consumerCount || 0;
    caption.textContent = count > consumers.length ? `(top ${consumers.length} of ${fmt.format(count)})` : `(${fmt.format(count)})`;
    fillTable(consumers);
    if (filters.consumer === undefined) heading.hidden = true;
    else
      fillHeading(
        filters.consumer,
        consumers.find((c) => c.id === filters.consumer),
      );
  });
})();
