import { createServer, type Server } from 'node:http';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import { createDashboard, startDashboardServer, type Dashboard, type DashboardOptions, type DashboardServer } from '../../src/dashboard/index.js';
import { browserAvailable, launchChromium } from '../support/browser.js';
import { createMigratedTestDatabase, type TestDatabase } from '../support/database.js';
import { closeServer, listen, send } from '../support/http.js';
import { nginxMissing, startNginx, type RunningNginx } from '../support/nginx.js';
import { makeTestCertificate, type TestCertificate } from '../support/tls-cert.js';

const TOKEN = 'access-test-token-5f2c9e1a7b';
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

/** Real HTTP against real servers: lockout, per-client throttling behind nginx, cross-site posts, Secure cookies, shutdown. */
describe('dashboard access: no way in, no way to lock the operator out', () => {
  let database: TestDatabase;
  let pulse: Pulse;
  let certificate: TestCertificate;
  const cleanups: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    database = await createMigratedTestDatabase();
    pulse = createPulse({ connectionString: database.url, maxWaitMs: 20 });
    await pulse.migrate();
    certificate = await makeTestCertificate();
  });
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    await pulse?.close();
    await database?.drop();
    await certificate?.remove();
  });

  async function dashboardServer(options: Partial<DashboardOptions> & { tls?: { cert: Buffer; key: Buffer } } = {}): Promise<DashboardServer> {
    const server = await startDashboardServer({ db: pulse.db, pubsub: pulse.pubsub, registry: pulse.registry, token: TOKEN, port: 0, ...options });
    cleanups.push(() => server.close());
    return server;
  }

  async function proxied(upstream: DashboardServer, tls = false): Promise<string> {
    const nginx: RunningNginx = await startNginx([Number(new URL(upstream.url).port)], tls ? { tls: certificate } : {});
    cleanups.push(() => nginx.stop());
    return `${tls ? 'https' : 'http'}://127.0.0.1:${nginx.ports[0]}/`;
  }

  const wrong = (i: number) => ({ authorization: `Bearer wrong-${i}` });
  const bearer = { authorization: `Bearer ${TOKEN}` };

  it('after 30 wrong tokens from one address, the right one still works: form login, Bearer /api/*, Bearer /metrics', async () => {
    const server = await dashboardServer();
    const statuses = [];
    for (let i = 0; i < 30; i++) statuses.push((await send(`${server.url}api/recent`, { headers: wrong(i) })).status);
    expect(statuses.slice(0, 10)).toEqual(Array(10).fill(401));
    expect(new Set(statuses.slice(10))).toEqual(new Set([429]));
    expect((await send(`${server.url}api/session`, { method: 'POST', headers: FORM, body: 'token=nope' })).status).toBe(429);

    const login = await send(`${server.url}api/session`, { method: 'POST', headers: FORM, body: `token=${TOKEN}` });
    expect(login.status).toBe(303);
    const cookie = login.headers['set-cookie']![0]!.split(';')[0]!;
    expect((await send(server.url, { headers: { cookie } })).status).toBe(200);
    expect((await send(`${server.url}api/recent`, { headers: bearer })).status).toBe(200);
    expect((await send(`${server.url}api/stats?from=${new Date(Date.now() - 60_000).toISOString()}`, { headers: bearer })).status).toBe(200);
    const metrics = await send(`${server.url}metrics`, { headers: bearer });
    expect(metrics.status).toBe(200);
    expect(metrics.body).toMatch(/^pgpulse_dashboard_unauthorized_total \d+/m);
    expect(server.dashboard.stats.rateLimited).toBe(21);
  });

  it.skipIf(nginxMissing)(
    'behind nginx, wrong tokens are throttled per client (trustProxy: 1), not for everyone; forged X-Forwarded-For changes nothing',
    async () => {
      const server = await dashboardServer({ trustProxy: 1 });
      const base = await proxied(server);
      // The attacker (127.0.0.2) rotates a forged X-Forwarded-For; nginx appends the real address, which is what counts.
      for (let i = 0; i < 15; i++)
        await send(`${base}api/recent`, { localAddress: '127.0.0.2', headers: { ...wrong(i), 'x-forwarded-for': `198.51.100.${i}` } });
      expect((await send(`${base}api/recent`, { localAddress: '127.0.0.2', headers: { ...wrong(99), 'x-forwarded-for': '203.0.113.1' } })).status).toBe(429);
      // The operator (127.0.0.3) through the same proxy: a typo is a plain 401, the token works, and so does Prometheus.
      expect((await send(`${base}api/recent`, { localAddress: '127.0.0.3', headers: wrong(0) })).status).toBe(401);
      expect((await send(`${base}api/recent`, { localAddress: '127.0.0.3', headers: bearer })).status).toBe(200);
      expect((await send(`${base}metrics`, { localAddress: '127.0.0.2', headers: bearer })).status).toBe(200);
    },
  );

  it.skipIf(nginxMissing)('without trustProxy behind nginx, all clients share one key, and still the right token works', async () => {
    const server = await dashboardServer();
    const base = await proxied(server);
    for (let i = 0; i < 12; i++) await send(`${base}api/recent`, { localAddress: '127.0.0.2', headers: wrong(i) });
    expect((await send(`${base}api/recent`, { localAddress: '127.0.0.3', headers: wrong(0) })).status).toBe(429);
    expect((await send(`${base}api/recent`, { localAddress: '127.0.0.3', headers: bearer })).status).toBe(200);
  });

  it('refuses cross-site logins and logouts (Sec-Fetch-Site, Origin) without counting them; same-origin and API clients work', async () => {
    const server = await dashboardServer();
    const host = new URL(server.url).host;
    const post = (headers: Record<string, string>, body = `token=${TOKEN}`) =>
      send(`${server.url}api/session`, { method: 'POST', headers: { ...FORM, ...headers }, body });
    for (const headers of [
      { 'sec-fetch-site': 'cross-site' } as Record<string, string>,
      { 'sec-fetch-site': 'same-site' },
      { origin: 'https://evil.example' },
      { origin: 'null' },
      { origin: `http://${host}.evil.example` },
    ]) {
      const refused = await post(headers);
      expect(refused.status, JSON.stringify(headers)).toBe(403);
      expect(refused.headers['set-cookie']).toBeUndefined();
    }
    for (let i = 0; i < 20; i++) expect((await post({ 'sec-fetch-site': 'cross-site' }, `token=guess-${i}`)).status).toBe(403);
    expect((await send(`${server.url}api/logout`, { method: 'POST', headers: { origin: 'https://evil.example' } })).status).toBe(403);
    // None of that counted as a failure: one wrong token is a plain 401.
    expect((await send(`${server.url}api/recent`, { headers: wrong(1) })).status).toBe(401);
    expect((await post({ 'sec-fetch-site': 'same-origin', origin: `http://${host}` })).status).toBe(303);
    expect((await post({})).status).toBe(303);
    expect(server.dashboard.stats.forbidden).toBe(26);
  });

  it('the session cookie is Secure over TLS: --tls-cert/--tls-key, nginx TLS termination with trustProxy, or secureCookies', async () => {
    const secure = (response: { headers: { 'set-cookie'?: string[] } }) => /;\s*Secure/i.test(response.headers['set-cookie']?.[0] ?? '');
    const login = (base: string, headers: Record<string, string> = {}) =>
      send(`${base}api/session`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ token: TOKEN }) });

    const plain = await dashboardServer();
    expect(secure(await login(plain.url))).toBe(false);
    // A client cannot ask for it: X-Forwarded-Proto counts only from a trusted proxy.
    expect(secure(await login(plain.url, { 'x-forwarded-proto': 'https' }))).toBe(false);

    const tls = await dashboardServer({ tls: { cert: certificate.cert, key: certificate.key } });
    expect(tls.url).toMatch(/^https:\/\//);
    const direct = await login(tls.url);
    expect(direct.status).toBe(204);
    expect(secure(direct)).toBe(true);

    expect(secure(await login((await dashboardServer({ secureCookies: true })).url))).toBe(true);

    if (nginxMissing) {
      console.warn(`[dashboard-access] skipped the nginx TLS part: ${nginxMissing}`);
      return;
    }
    const trusted = await dashboardServer({ trustProxy: 'loopback' });
    expect(secure(await login(await proxied(trusted, true)))).toBe(true);
    const untrusted = await dashboardServer();
    expect(secure(await login(await proxied(untrusted, true)))).toBe(false);
  });

  it('after close (SIGTERM), requests that still reach a mounted dashboard get a clear 503, never a hang', async () => {
    const dashboard: Dashboard = createDashboard({ db: pulse.db, pubsub: pulse.pubsub, token: TOKEN, health: async () => ({ ok: true }) });
    const server: Server = createServer((req, res) => dashboard.handler(req, res, () => res.end('app')));
    const base = await listen(server);
    cleanups.push(() => closeServer(server));
    expect((await send(`${base}/api/recent`, { headers: bearer })).status).toBe(200);
    await dashboard.close();
    for (const path of ['/', '/api/recent', '/api/stats', '/api/stream', '/api/export', '/metrics', '/healthz', '/app.js']) {
      const response = await send(`${base}${path}`, { headers: bearer });
      expect(response.status, path).toBe(503);
      expect(response.headers.connection, path).toBe('close');
      expect(response.body, path).toMatch(/shutting down/);
    }
    // The app itself goes on.
    expect((await send(`${base}/orders/1`)).body).toBe('app');
  });

  it('a standalone dashboard server closes with a stream open and a request in flight on a kept-alive connection', async () => {
    const server = await startDashboardServer({ db: pulse.db, pubsub: pulse.pubsub, token: TOKEN, port: 0, closeTimeoutMs: 2_000 });
    const stream = await fetch(`${server.url}api/stream`, { headers: bearer });
    expect(stream.status).toBe(200);
    const reader = stream.body!.getReader();
    await reader.read();
    await server.close();
    // The stream ended (no hang), and the port is closed.
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read());
    await expect(send(`${server.url}api/recent`, { headers: bearer })).rejects.toThrow(/ECONNREFUSED/);
  });
});

describe.runIf(browserAvailable)('a cross-site page cannot sign in or lock the operator out (Chromium)', () => {
  let database: TestDatabase;
  let pulse: Pulse;
  let browser: Browser;
  let dashboard: DashboardServer;
  let attacker: Server;

  beforeAll(async () => {
    database = await createMigratedTestDatabase();
    pulse = createPulse({ connectionString: database.url, maxWaitMs: 20 });
    await pulse.migrate();
    dashboard = await startDashboardServer({ db: pulse.db, pubsub: pulse.pubsub, token: TOKEN, port: 0 });
    // evil page: auto-submits login forms with guesses to the dashboard, from another site (localhost vs 127.0.0.1).
    attacker = createServer((_req, res) => {
      const forms = Array.from(
        { length: 12 },
        (_, i) =>
          `<iframe name="f${i}"></iframe><form target="f${i}" method="post" action="${dashboard.url}api/session"><input name="token" value="guess-${i}"></form>`,
      ).join('');
      res.setHeader('content-type', 'text/html');
      res.end(`<!doctype html><body>${forms}<script>for (const f of document.forms) f.submit(); document.title = 'sent';</script></body>`);
    });
    await listen(attacker);
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await dashboard?.close();
    if (attacker) await closeServer(attacker);
    await pulse?.close();
    await database?.drop();
  });

  it('the forms are refused with 403 and not counted; the operator signs in on the page', async () => {
    const port = (attacker.address() as { port: number }).port;
    const page = await browser.newPage();
    const answers: number[] = [];
    page.on('response', (response) => {
      if (response.url().endsWith('/api/session')) answers.push(response.status());
    });
    await page.goto(`http://localhost:${port}/`);
    await expect.poll(() => answers.length, { timeout: 15_000 }).toBe(12);
    expect(new Set(answers)).toEqual(new Set([403]));
    expect(dashboard.dashboard.stats.forbidden).toBe(12);
    expect(dashboard.dashboard.stats.rateLimited).toBe(0);
    await page.close();

    const operator = await browser.newPage();
    expect((await operator.goto(dashboard.url))?.status()).toBe(401);
    await operator.fill('#token', TOKEN);
    await operator.click('button[type=submit]');
    await operator.locator('#card-requests').waitFor();
    expect(new URL(operator.url()).pathname).toBe('/');
    const cookies = await operator.context().cookies();
    expect(cookies.find((c) => c.name === 'pgpulse_session')).toMatchObject({ httpOnly: true, sameSite: 'Strict', secure: false });
    await operator.close();
  });
});
