import type { RequestLog } from '../../src/schema/request-log.js';
import { makeLog } from './fixtures.js';
import { seededRandom, zipfIndex } from './seeded-random.js';

/**
 * Request rows with a realistic long tail, deterministic for a seed: Zipf-like
 * paths (a few hot pages, hundreds of rare ones), a tail of bot 404s on
 * one-off paths, skewed referrers (direct and search first, then a tail of
 * spam hosts), skewed countries, correlated device/browser/OS, some rows
 * without route, browser, country, visitor or response size (as rows of
 * older releases have).
 */
export function longTailRows(count: number, options: { from: number; to: number; seed?: number }): RequestLog[] {
  const random = seededRandom(options.seed ?? 1);
  const zipf = (n: number, s: number) => zipfIndex(random, n, s);
  const pick = <T>(items: readonly T[], s = 1.2): T => items[zipf(items.length, s)]!;
  const routes = ['/', '/products/:id', '/search', '/users/:id', '/cart', '/checkout', '/api/orders/:id', '/blog/:slug', '/about', '/api/health'] as const;
  const countries = ['US', 'DE', 'GB', 'FR', 'IN', 'BR', 'JP', 'CA', 'NL', 'ES', 'SE', 'PL', 'IT', 'AU', 'NZ', 'KE', 'IS', 'UY'] as const;
  const referrers = [
    null,
    'https://www.google.com/',
    'https://news.ycombinator.com/item?id=1',
    'https://duckduckgo.com/',
    'https://t.co/abc',
    'android-app://com.slack',
    ...Array.from({ length: 40 }, (_, i) => `https://spam${i}.example/`),
  ];
  const clients = [
    { device: 'desktop', browser: 'Chrome', os: 'Windows' },
    { device: 'desktop', browser: 'Safari', os: 'macOS' },
    { device: 'mobile', browser: 'Safari', os: 'iOS' },
    { device: 'mobile', browser: 'Chrome', os: 'Android' },
    { device: 'desktop', browser: 'Firefox', os: 'Linux' },
    { device: 'tablet', browser: 'Safari', os: 'iOS' },
    { device: 'desktop', browser: 'Edge', os: 'Windows' },
    { device: 'mobile', browser: 'Samsung Internet', os: 'Android' },
  ] as const;
  const rows: RequestLog[] = [];
  for (let i = 0; i < count; i++) {
    const at = new Date(options.from + Math.floor(random() * (options.to - options.from)));
    if (random() < 0.06) {
      // Bot tail: one-off paths, mostly 404, no browser, no referrer.
      rows.push(
        makeLog({
          inserted_at: at,
          path: `/wp-${Math.floor(random() * 5_000)}.php`,
          route: null,
          status_code: random() < 0.9 ? 404 : 403,
          duration_ms: 0.2 + random() * 3,
          response_bytes: random() < 0.2 ? null : 150,
          device_type: 'bot',
          browser: null,
          os: null,
          country: random() < 0.3 ? null : pick(countries, 0.6),
          referer: null,
          referer_host: null,
          visitor_id: `bot${Math.floor(random() * 40)}`,
          node_id: `node-${i % 3}`,
        }),
      );
      continue;
    }
    const route = pick(routes, 1.1);
    const client = pick(clients, 1.0);
    const referer = random() < 0.5 ? null : pick(referrers, 1.3);
    const code = random() < 0.015 ? 500 : random() < 0.01 ? 503 : random() < 0.03 ? 404 : random() < 0.05 ? 304 : random() < 0.02 ? 302 : 200;
    const id = zipf(2_000, 1.1);
    rows.push(
      makeLog({
        inserted_at: at,
        path: route.includes(':') ? route.replace(/:\w+/, String(id)) : route,
        route: random() < 0.02 ? null : route,
        status_code: code,
        duration_ms: Math.exp(0.5 + random() * 4 + (route === '/search' ? 1 : 0)),
        response_bytes: random() < 0.03 ? null : Math.floor(200 + random() * 20_000),
        device_type: client.device,
        browser: random() < 0.02 ? null : client.browser,
        os: client.os,
        country: random() < 0.05 ? null : pick(countries, 0.8),
        referer,
        referer_host: referer === null ? null : (/^https?:\/\/([^/]+)/.exec(referer)?.[1] ?? null),
        visitor_id: random() < 0.03 ? null : `v${Math.floor(random() ** 2 * 3_000)}`,
        node_id: `node-${i % 3}`,
      }),
    );
  }
  return rows;
}
