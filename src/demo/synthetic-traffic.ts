/** User agents with their share of visitors: mostly desktop and mobile, some tablets and bots. */
const userAgents = [
  ['Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36', 20],
  ['Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0', 6],
  ['Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15', 14],
  ['Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0', 6],
  ['Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1', 18],
  ['Mozilla/5.0 (Linux; Android 15; Pixel 9) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36', 11],
  ['Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36', 4],
  ['Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36', 2],
  ['Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1', 8],
  ['Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)', 6],
  ['Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)', 3],
  ['curl/8.5.0', 2],
] as const;

/** A user agent drawn by share. */
export function randomUserAgent(): string {
  const total = userAgents.reduce((sum, [, weight]) => sum + weight, 0);
  let r = Math.random() * total;
  for (const [ua, weight] of userAgents) if ((r -= weight) < 0) return ua;
  return userAgents[0][0];
}

/** Countries of the synthetic visitors (sent as `CF-IPCountry`), repeated by share. */
export const countries = ['US', 'US', 'US', 'US', 'DE', 'DE', 'GB', 'GB', 'FR', 'IN', 'IN', 'BR', 'JP', 'CA', 'NL', 'AU', 'ES', 'PL'] as const;

/** Referrers of the synthetic visitors, repeated by share (null = none, typed in or a bookmark). */
export const referrers = [
  null,
  null,
  null,
  'https://www.google.com/',
  'https://www.google.com/search',
  'https://www.google.de/',
  'https://news.ycombinator.com/item',
  'https://duckduckgo.com/',
  'https://www.bing.com/search',
  'https://twitter.com/',
  'https://t.co/x1',
  'https://github.com/pgpulse/pgpulse',
  'https://www.reddit.com/r/node/',
  'https://www.linkedin.com/feed/',
] as const;

/**
 * The demo's API consumers: the clients calling `/api/…` with a key, as a
 * tenant or a partner integration would (weighted by repetition). The demo
 * app's `consumer` option maps the key to the consumer.
 */
export const demoConsumers = [
  { key: 'demo-key-acme', id: 'acme', name: 'Acme Corp', group: 'enterprise' },
  { key: 'demo-key-acme', id: 'acme', name: 'Acme Corp', group: 'enterprise' },
  { key: 'demo-key-acme', id: 'acme', name: 'Acme Corp', group: 'enterprise' },
  { key: 'demo-key-globex', id: 'globex', name: 'Globex', group: 'pro' },
  { key: 'demo-key-globex', id: 'globex', name: 'Globex', group: 'pro' },
  { key: 'demo-key-initech', id: 'initech', name: 'Initech', group: 'pro' },
  { key: 'demo-key-hooli', id: 'hooli', name: 'Hooli', group: 'free' },
  { key: 'demo-key-umbrella', id: 'umbrella', name: 'Umbrella', group: 'free' },
] as const;

/** Arms of the demo's A/B test, one per visitor (sent as `x-experiment`; stored as the `experiment` attribute). */
export const experimentArms = ['control', 'control', 'search-v2', 'one-click-checkout'] as const;

/** The demo app's custom attributes: the visitor's experiment arm, and the plan of an API consumer. */
export function demoAttributes(experiment: string | undefined, consumerGroup: string | undefined): Record<string, string> {
  return { ...(experiment ? { experiment } : {}), ...(consumerGroup ? { plan: consumerGroup } : {}) };
}

/** The consumer whose key is `key`, or null. */
export function demoConsumerByKey(key: string | undefined): { id: string; name: string; group: string } | null {
  const found = demoConsumers.find((c) => c.key === key);
  return found ? { id: found.id, name: found.name, group: found.group } : null;
}

export const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;

/** A referrer for a request to the app at `baseUrl`: one in four is a link within the app itself. */
export function randomReferrer(baseUrl?: string): string | null {
  if (baseUrl !== undefined && Math.random() < 0.25) return `${baseUrl}${pick(['/', '/products', '/cart'])}`;
  return pick(referrers);
}

/** A plausible request path: popular pages often, ids spread, some 404s. */
export function randomPath(): string {
  const r = Math.random();
  if (r < 0.15) return '/';
  if (r < 0.3) return '/products';
  if (r < 0.55) return `/products/${1 + Math.floor(Math.random() ** 2 * 300)}`;
  if (r < 0.67) return `/users/${1 + Math.floor(Math.random() * 5_000)}`;
  if (r < 0.75) return `/search?q=${pick(['shoes', 'lamp', 'desk', 'mug'])}`;
  if (r < 0.83) return '/cart';
  if (r < 0.87) return '/checkout';
  if (r < 0.95) return `/api/orders/${1 + Math.floor(Math.random() * 10_000)}`;
  return pick(['/wp-login.php', '/old-page', '/products/abc', '/.env']);
}

/** Multiplier of the average rate at `seconds`: a slow ±50 % swing plus rare 5× bursts. */
export function trafficShape(seconds: number): number {
  const burst = Math.random() < 0.02 ? 5 : 1;
  return (1 + 0.5 * Math.sin(seconds / 15)) * burst;
}

export interface TrafficOptions {
  /** Base URL of the app, e.g. `http://127.0.0.1:3000`. */
  baseUrl: string;
  /** Average requests per second; traffic swings around it with occasional bursts. Default 20. */
  ratePerSecond?: number;
  signal: AbortSignal;
}

export interface TrafficStats {
  /** Requests answered by the app (any status). */
  sent: number;
  /** Requests that got no answer (connection errors). */
  failed: number;
  /** Answers with status 404. */
  notFound: number;
  /** Answers with a 5xx status. */
  serverErrors: number;
}

/** Fresh counters. */
export const newTrafficStats = (): TrafficStats => ({ sent: 0, failed: 0, notFound: 0, serverErrors: 0 });

/** Drives realistic traffic until `signal` aborts: several visitors, devices, referrers, bursts. */
export async function driveTraffic(options: TrafficOptions, stats: TrafficStats): Promise<void> {
  const rate = options.ratePerSecond ?? 20;
  const visitors = Array.from({ length: 40 }, (_, i) => ({
    ua: randomUserAgent(),
    ip: `198.51.100.${i + 1}`,
    country: pick(countries),
    experiment: pick(experimentArms),
  }));
  const inflight = new Set<Promise<void>>();
  const started = Date.now();
  while (!options.signal.aborted) {
    const perTick = Math.max(0, Math.round((rate * trafficShape((Date.now() - started) / 1000)) / 10 + (Math.random() - 0.5)));
    for (let i = 0; i < perTick; i++) {
      const visitor = pick(visitors);
      const referer = randomReferrer(options.baseUrl);
      const path = randomPath();
      // API calls carry a consumer's key (the demo app's consumer option reads it).
      const apiKey: Record<string, string> = path.startsWith('/api/') ? { 'x-api-key': pick(demoConsumers).key } : {};
      const request = fetch(options.baseUrl + path, {
        // As a CDN would send it: the demo app trusts CF-IPCountry (trustCountryHeaders).
        headers: {
          'user-agent': visitor.ua,
          'x-forwarded-for': visitor.ip,
          'cf-ipcountry': visitor.country,
          'x-experiment': visitor.experiment,
          ...(referer ? { referer } : {}),
          ...apiKey,
        },
        signal: options.signal,
      })
        .then(async (r) => {
          await r.arrayBuffer();
          stats.sent++;
          if (r.status === 404) stats.notFound++;
          if (r.status >= 500) stats.serverErrors++;
        })
        .catch(() => {
          if (!options.signal.aborted) stats.failed++;
        })
        .finally(() => inflight.delete(request));
      inflight.add(request);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await Promise.allSettled(inflight);
}
