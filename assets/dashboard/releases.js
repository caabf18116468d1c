// pgpulse dashboard: releases. Marks each release on the range charts (a
// uPlot plugin: a line per release in the chart's overlay, its name and deploy
// time on hover) and offers "Compare around a release", which sets the range
// to the period after the release and compares it with the same length before.
// Releases come from GET /api/releases. Loaded before app.js, which asks for
// the plugin and calls refresh() after each stats answer. DOM by textContent only.
(() => {
  'use strict';
  const MINUTE_MS = 60_000;
  /** Longest period compared on each side of a release. */
  const MAX_SIDE_MS = 7 * 86_400_000;
  let releases = []; // [{ release, deployedAt, lastNodeAt, nodes }], oldest first
  const plotted = new Set(); // uPlot instances showing markers

  const el = (tag, attrs = {}, text) => {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
    if (text !== undefined) node.textContent = text;
    return node;
  };

  /** Draws one marker per release inside the chart's x range, as DOM in the plot's overlay. */
  function drawMarkers(u) {
    const layer = u.pgpulseReleaseLayer || (u.pgpulseReleaseLayer = u.over.appendChild(el('div', { class: 'release-layer' })));
    layer.replaceChildren();
    const { min, max } = u.scales.x;
    if (min == null || max == null) return;
    for (const r of releases) {
      const t = Date.parse(r.deployedAt) / 1000;
      if (t < min || t > max) continue;
      const when = new Date(r.deployedAt).toLocaleString();
      const marker = el('div', { class: 'release-marker', title: `release ${r.release}, deployed ${when} (${r.nodes} node${r.nodes === 1 ? '' : 's'})` });
      marker.dataset.release = r.release;
      marker.style.left = `${u.valToPos(t, 'x')}px`;
      marker.append(el('span', { class: 'release-label' }, r.release));
      layer.append(marker);
    }
  }

  /** The uPlot plugin app.js adds to its range charts. */
  function markers() {
    return {
      hooks: {
        init: (u) => plotted.add(u),
        draw: drawMarkers,
        destroy: (u) => plotted.delete(u),
      },
    };
  }

  /** The range after `release` (at most as long as the current view, the time since it, and a week), compared with as long before it. */
  function compareAround(release, currentLengthMs) {
    const at = Date.parse(release.deployedAt);
    const side = Math.max(MINUTE_MS, Math.min(currentLengthMs, MAX_SIDE_MS, Date.now() - at));
    const search = new URLSearchParams(location.search);
    search.delete('range');
    search.set('from', new Date(at).toISOString());
    search.set('to', new Date(at + side).toISOString());
    search.set('compare', '1');
    history.pushState(null, '', `${location.pathname}?${search}`);
    window.dispatchEvent(new PopStateEvent('popstate'));
  }

  const picker = el('select', { id: 'release-compare', 'aria-label': 'Compare before and after a release' });
  const label = el('label', { class: 'release-compare', hidden: '' }, 'Release ');
  label.append(picker);
  let currentLength = 3_600_000;
  picker.addEventListener('change', () => {
    const release = releases.find((r) => r.release === picker.value);
    picker.value = '';
    if (release) compareAround(release, currentLength);
  });
  // Scripts run at the end of the body: the header is there.
  document.querySelector('label.compare')?.after(label);

  function fillPicker() {
    const options = [new Option('Compare around a release…', '')];
    for (const r of [...releases].reverse()) options.push(new Option(`${r.release} (${new Date(r.deployedAt).toLocaleString()})`, r.release));
    picker.replaceChildren(...options);
    label.hidden = releases.length === 0;
  }

  /** Reloads the releases (the newest 100) and redraws the markers; `range` is the view's { from, to } in ms. */
  async function refresh(range) {
    currentLength = range.to - range.from;
    try {
      const response = await fetch('api/releases', { credentials: 'same-origin' });
      if (!response.ok) return;
      releases = (await response.json()).releases;
    } catch {
      return; // markers are an extra: the charts stay as they are
    }
    fillPicker();
    for (const u of plotted) u.redraw(false, false);
  }

  window.pgpulseReleases = { markers, refresh };
})();
