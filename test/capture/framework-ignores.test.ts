import { Hono } from 'hono';
import { afterAll, describe, expect } from 'vitest';
import { pgpulseHono } from '../../src/adapters/hono.js';
import { defaultProbePaths } from '../../src/capture/ignore.js';
import { createPulse, type Pulse, type PulseOptions } from '../../src/create-pulse.js';
import { adapterNames, startApp, type AdapterName, type RunningApp } from '../support/four-apps.js';
import { send } from '../support/http.js';
import { test } from '../support/migrated-database.js';

const CHROME = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';
const BOT = 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)';
const PROBES = ['/metrics', '/health', '/healthz', '/livez', '/readyz'];

/** Each variant's options; every variant runs in each of the four frameworks, on one shared pool. */
const variants = {
  defaults: {},
  replaced: { probePaths: ['/healthz'] },
  extended: { probePaths: [...defaultProbePaths, '/ping'] },
  late: { ignoreResponse: ({ statusCode, headers }) => statusCode === 404 && /bot/i.test(headers['user-agent'] ?? '') },
  throwing: {
    ignoreResponse: () => {
      throw new Error('late ignore exploded');
    },
  },
} satisfies Record<string, PulseOptions>;
type Variant = keyof typeof variants;

describe('probe paths and late ignores, in node:http, Express, Fastify and Hono', () => {
  const running: { variant: Variant; name: AdapterName; pulse: Pulse; app: RunningApp; errors: Error[] }[] = [];

  test.beforeAll(async ({ database }) => {
    for (const [variant, options] of Object.entries(variants) as [Variant, PulseOptions][]) {
      for (const name of adapterNames) {
        const pulse = createPulse({ pool: database.pool, nodeId: `${variant}-${name}`, maintenanceIntervalMs: 0, cubeIntervalMs: 0, ...options });
        const errors: Error[] = [];
        pulse.on('captureError', ({ error }) => errors.push(error));
        running.push({ variant, name, pulse, app: await startApp(name, pulse), errors });
      }
    }
  });

  afterAll(async () => {
    for (const { app, pulse } of running) {
      await app.close();
      await pulse.close();
    }
  });

  /** Sends the requests (each answered before the next), waits until the pulse has received them all, flushes, and returns the stored paths and user agents. */
  async function stored(variant: Variant, name: AdapterName, requests: { path: string; ua?: string; status: number }[]) {
    const { pulse, app } = running.find((r) => r.variant === variant && r.name === name)!;
    const before = pulse.recorder.received;
    for (const { path, ua, status } of requests) {
      const response = await send(app.base + path, { headers: { 'user-agent': ua ?? CHROME } });
      expect(response.status, `${name} ${path}`).toBe(status);
    }
    // The response's close reaches the recorder a turn or two after the client has the body.
    while (pulse.recorder.received < before + requests.length) await new Promise((resolve) => setImmediate(resolve));
    await pulse.flush();
    const rows = await pulse.db
      .selectFrom('pgpulse.request_logs')
      .select(['path', 'user_agent', 'status_code'])
      .where('node_id', '=', `${variant}-${name}`)
      .execute();
    return rows.map((r) => `${r.status_code} ${r.path} ${r.user_agent === BOT ? 'bot' : 'browser'}`).sort();
  }

  const probes = (extra: string[] = []) => [...PROBES, ...extra].map((path) => ({ path, status: 404 }));

  test.each(adapterNames)('%s: the metrics endpoint and probe paths are not recorded by default', async (name) => {
    expect(await stored('defaults', name, [...probes(['/ping']), { path: '/users/1', status: 200 }])).toEqual(['200 /users/1 browser', '404 /ping browser']);
  });

  test.each(adapterNames)('%s: probePaths replaces the list, or extends defaultProbePaths', async (name) => {
    expect(await stored('replaced', name, probes())).toEqual(['404 /health browser', '404 /livez browser', '404 /metrics browser', '404 /readyz browser']);
    expect(await stored('extended', name, [...probes(['/ping']), { path: '/pong', status: 404 }])).toEqual(['404 /pong browser']);
  });

  test.each(adapterNames)('%s: a late ignore drops 404s from bots and keeps the rest', async (name) => {
    const requests = [
      { path: '/wp-login.php', ua: BOT, status: 404 },
      { path: '/nope', ua: BOT, status: 404 },
      { path: '/nope', status: 404 },
      { path: '/users/1', ua: BOT, status: 200 },
      { path: '/users/2', status: 200 },
    ];
    expect(await stored('late', name, requests)).toEqual(['200 /users/1 bot', '200 /users/2 browser', '404 /nope browser']);
  });

  test.each(adapterNames)('%s: a throwing late ignore never reaches the app: counted, emitted, and the request recorded', async (name) => {
    const { pulse, errors } = running.find((r) => r.variant === 'throwing' && r.name === name)!;
    const requests = [
      { path: '/users/3', status: 200 },
      { path: '/nope', ua: BOT, status: 404 },
    ];
    expect(await stored('throwing', name, requests)).toEqual(['200 /users/3 browser', '404 /nope bot']);
    expect(pulse.stats.captureFailures).toBe(2);
    expect(errors.map((e) => (e.cause as Error).message)).toEqual(['late ignore exploded', 'late ignore exploded']);
  });
  test('Hono outside Node (app.request, through pulse.record): probe paths and the late ignore apply too', async ({ database }) => {
    await using pulse = createPulse({ pool: database.pool, nodeId: 'hono-fetch', maintenanceIntervalMs: 0, cubeIntervalMs: 0, ...variants.late });
    const app = new Hono();
    app.use(pgpulseHono(pulse));
    app.get('/users/:id', (c) => c.text('hello'));
    for (const [path, ua] of [
      ['/metrics', CHROME],
      ['/nope', BOT],
      ['/nope', CHROME],
      ['/users/1', BOT],
    ] as const)
      await app.request(path, { headers: { 'user-agent': ua } });
    await pulse.flush();
    const rows = await pulse.db
      .selectFrom('pgpulse.request_logs')
      .select(['path', 'status_code', 'route'])
      .where('node_id', '=', 'hono-fetch')
      .orderBy('path')
      .execute();
    expect(rows).toEqual([
      { path: '/nope', status_code: 404, route: null },
      { path: '/users/1', status_code: 200, route: '/users/:id' },
    ]);
  });
});
