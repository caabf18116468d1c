// pgpulse dashboard: custom attributes (the `attributes` capture option). An
// Attributes panel lists the keys the range's rows carry (GET /api/attributes,
// under the page's filters); for the key picked, its values with visitors and
// requests. Clicking a value sets the attribute filter (`attribute=key:value`),
// which the whole page follows. The key shown is the one last picked, else
// the attribute filter's, else the most used. Loaded after app.js
// (window.pgpulseApp); refreshed with each stats answer; DOM by textContent only.
(() => {
  'use strict';
  const app = window.pgpulseApp;
  const { el, fmt } = app;

  const panel = el('div', undefined, 'panel span2 attributes');
  panel.id = 'attributes-panel';
  const title = el('h3', 'Custom attributes ');
  const picker = el('select');
  picker.id = 'attribute-key';
  picker.setAttribute('aria-label', 'Attribute key');
  title.append(picker);
  const table = el('table');
  table.id = 'attribute-values';
  panel.append(title, table);
  document.querySelector('.breakdowns').append(panel);
  app.csvButton(title, table, 'Custom attributes');

  let picked = null; // the key last chosen in the picker
  let generation = 0;
  let last = null; // detail of the last stats answer, to reload when the key changes

  picker.addEventListener('change', () => {
    picked = picker.value;
    if (last) void load(last);
  });

  function fill(answer) {
    picker.replaceChildren(...answer.keys.map((k) => new Option(`${k.key} (${fmt.format(k.requests)})`, k.key)));
    // The key shown stays listed even when no row of the range has it (say the filter's, in a quiet range).
    if (answer.key && !answer.keys.some((k) => k.key === answer.key)) picker.append(new Option(answer.key, answer.key));
    picker.value = answer.key ?? '';
    picker.hidden = !answer.key;
    const head = el('tr');
    ['Value', 'Visitors', 'Requests'].forEach((h, i) => head.append(el('th', h, i > 0 ? 'num' : undefined)));
    const thead = el('thead');
    thead.append(head);
    const body = el('tbody');
    if (answer.values.length === 0) {
      const text = answer.key ? 'no values in this range' : 'no custom attributes in this range (the attributes capture option adds them)';
      const td = el('td', text, 'empty');
      td.colSpan = 3;
      const tr = el('tr');
      tr.append(td);
      body.append(tr);
    }
    const max = Math.max(1, ...answer.values.map((v) => v.requests));
    for (const v of answer.values) {
      const tr = el('tr');
      const first = el('td');
      first.title = v.key;
      first.style.setProperty('--share', (v.requests / max).toFixed(3));
      first.append(el('span', undefined, 'bar'), app.filterButton('attribute', `${answer.key}:${v.key}`, v.key));
      tr.append(first, el('td', fmt.format(v.visitors), 'num'), el('td', fmt.format(v.requests), 'num'));
      body.append(tr);
    }
    table.replaceChildren(thead, body);
  }

  async function load(detail) {
    last = detail;
    const run = ++generation;
    const { range, filters } = detail;
    const filterKey = filters.attribute === undefined ? null : filters.attribute.slice(0, filters.attribute.indexOf(':'));
    const query = new URLSearchParams({ from: String(range.from), to: String(range.to) });
    for (const [key, value] of Object.entries(filters)) query.set(key, value);
    const key = picked ?? filterKey;
    if (key) query.set('attributeKey', key);
    try {
      const response = await fetch(`api/attributes?${query}`, { credentials: 'same-origin' });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      // Without a key the server answers the values of the most used one.
      const answer = await response.json();
      if (run === generation) fill(answer);
    } catch (error) {
      if (run !== generation) return;
      table.replaceChildren(el('caption', `Could not load attributes: ${error.message}`, 'error'));
    }
  }

  window.addEventListener('pgpulse:stats', (event) => void load(event.detail));
})();
