// pgpulse dashboard: the request detail view. The time of a row in the live
// table (and in the endpoint page's slowest requests) opens a dialog with every
// stored field of that request (the row as the server sends it, which holds
// every column but the private ones; stored rows are read again from
// GET /api/request?id=, and an error example's by ?requestId=&at=), its trace
// link, its consumer, its error if any, and
// one-click filters: this visitor, this consumer, this session. Loaded after
// app.js (window.pgpulseApp); DOM by textContent only.
(() => {
  'use strict';
  const app = window.pgpulseApp;
  const { el, ms, bytes } = app;

  const dialog = el('dialog', undefined, 'request-detail');
  dialog.id = 'request-detail';
  dialog.setAttribute('aria-labelledby', 'request-detail-title');
  document.body.append(dialog);
  // A filter click inside the dialog (app.js handles it) also closes it; so does a click on the backdrop.
  dialog.addEventListener('click', (event) => {
    const target = event.target instanceof Element ? event.target : null;
    if (target === dialog || (target && target.closest('button.filter'))) dialog.close();
  });

  const value = (v) => (v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v));

  function section(title, ...children) {
    const node = el('section');
    node.append(el('h3', title), ...children);
    return node;
  }

  function render(row, traceLink, note) {
    const close = el('button', '×', 'close');
    close.type = 'button';
    close.setAttribute('aria-label', 'Close');
    close.addEventListener('click', () => dialog.close());
    const title = el('h2', `${row.method} ${row.path}`);
    title.id = 'request-detail-title';
    const summary = el('p', undefined, 'muted');
    // A placeholder row (an error example, until the stored row arrives) may lack the size.
    const size = row.response_bytes === undefined ? [] : [row.response_bytes === null ? 'size unknown' : bytes(row.response_bytes)];
    summary.append(
      el('span', String(row.status_code), `s${String(row.status_code)[0]}`),
      ` · ${[`${ms(row.duration_ms)} ms`, ...size, new Date(row.inserted_at).toLocaleString()].join(' · ')}`,
    );
    const parts = [close, title, summary];
    if (note) parts.push(el('p', note, 'muted'));

    // One click away: the page filtered to this visitor, consumer or session.
    const filters = el('p', undefined, 'request-filters');
    for (const [key, column, label] of [
      ['visitor', 'visitor_id', 'This visitor'],
      ['consumer', 'consumer_id', 'This consumer'],
      ['session', 'session_id', 'This session'],
    ]) {
      if (row[column] === null || row[column] === undefined) continue;
      const button = app.filterButton(key, row[column], label);
      button.classList.add('pill');
      filters.append(button);
    }
    if (filters.childElementCount > 0) parts.push(filters);

    const links = el('p');
    const trace = traceLink
      ? Object.assign(el('a', 'Open trace', 'trace'), { href: traceLink, target: '_blank', rel: 'noopener noreferrer' })
      : app.traceLink(row);
    if (trace) links.append(trace, ` (trace ${row.trace_id})`);
    else links.append(row.trace_id ? `trace ${row.trace_id} (no trace URL is set)` : 'no trace id');
    parts.push(section('Trace', links));

    if (row.consumer_id !== null && row.consumer_id !== undefined) {
      const consumer = el(
        'p',
        `${row.consumer_name ? `${row.consumer_name} · ` : ''}id ${row.consumer_id}${row.consumer_group ? ` · group ${row.consumer_group}` : ''}`,
      );
      parts.push(section('Consumer', consumer));
    }
    if (row.error) {
      const frames = el('pre', row.error.frames.join('\n'));
      parts.push(
        section('Error', el('p', `${row.error.class}: ${row.error.message}`, 'error'), frames, el('p', `fingerprint ${value(row.error_fingerprint)}`, 'muted')),
      );
    }

    // Every field, in the order the server sends them (table order, from src/schema/columns.ts).
    const table = el('table', undefined, 'fields');
    const body = el('tbody');
    for (const [name, v] of Object.entries(row)) {
      const tr = el('tr');
      tr.dataset.field = name;
      tr.append(el('th', name), v === null ? el('td', 'null', 'muted') : el('td', value(v)));
      body.append(tr);
    }
    table.append(body);
    parts.push(section('Stored fields', table));
    dialog.replaceChildren(...parts);
  }

  let shown = 0; // which open() the dialog shows: a late answer for an earlier row is dropped

  /**
   * Shows `row`, then the stored row read again from the server with its trace
   * link: by `lookup` (a GET /api/request query such as requestId=…&at=…),
   * by default the row's id; a streamed row (no id, no lookup) as captured.
   */
  async function open(row, lookup = row.id === undefined ? null : `id=${encodeURIComponent(row.id)}`) {
    const mine = ++shown;
    render(row, null, lookup === null ? 'Streamed just now: the fields as captured (the row id comes with storage).' : 'Loading the stored row…');
    if (!dialog.open) dialog.showModal();
    if (lookup === null) return;
    try {
      const response = await fetch(`api/request?${lookup}`, { credentials: 'same-origin' });
      if (!response.ok) throw new Error(response.status === 404 ? 'no longer stored' : `HTTP ${response.status}`);
      const answer = await response.json();
      if (mine === shown) render(answer.row, answer.traceLink, null);
    } catch (error) {
      if (mine === shown) render(row, null, `Could not load the stored row (${error.message}): the fields as listed.`);
    }
  }

  /** Makes the first cell of a table row (its time) a button opening the row's detail view (`lookup` as in open()). */
  function link(tr, row, lookup) {
    const cell = tr.cells[0];
    const text = cell.firstChild;
    const button = el('button', text ? text.textContent : 'details', 'detail');
    button.type = 'button';
    button.title = 'Request details';
    button.addEventListener('click', () => void open(row, lookup));
    if (text && text.nodeType === Node.TEXT_NODE) text.replaceWith(button);
    else cell.prepend(button);
  }

  window.pgpulseRequest = { open, link };
})();
