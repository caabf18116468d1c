import { createServer } from 'node:http';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import { createDashboard, startDashboardServer } from '../../src/dashboard/index.js';
import { collect, spawnCli, waitForOutput } from '../support/cli.js';
import { createMigratedTestDatabase, type TestDatabase } from '../support/database.js';
import { closeServer, listen, send } from '../support/http.js';
import { createTestNamespace, namespacesUnavailable, type TestNamespace } from '../support/netns.js';

const unavailable = namespacesUnavailable();
if (unavailable) console.warn(`[closed-by-default] SKIPPED the non-loopback client tests: ${unavailable}`);

/** A tokenless dashboard answers this machine only; the client here is a real other host (its own network namespace, over a veth pair). */
describe.skipIf(unavailable !== undefined)('closed by default: a client on another address', () => {
  let database: TestDatabase;
  let pulse: Pulse;
  let ns: TestNamespace;

  beforeAll(async () => {
    database = await createMigratedTestDatabase();
    pulse = createPulse({ connectionString: database.url, maxWaitMs: 20 });
    await pulse.migrate();
    ns = await createTestNamespace();
  });
  afterAll(async () => {
    await ns?.remove();
    await pulse?.close();
    await database?.drop();
  });

  it('without a token: 403 naming the `token` option for the other host, 200 for loopback; public: true serves both', async () => {
    const closed = createDashboard({ db: pulse.db, pubsub: pulse.pubsub });
    const open = createDashboard({ db: pulse.db, pubsub: pulse.pubsub, public: true });
    // The README's Express-style mount with PGPULSE_TOKEN unset: the app listens on every interface.
    const app = createServer((req, res) => {
      if (req.url?.startsWith('/pgpulse/')) {
        Object.assign(req, { originalUrl: req.url, url: req.url.slice('/pgpulse'.length) });
        return closed.handler(req, res);
      }
      if (req.url?.startsWith('/open/')) {
        Object.assign(req, { originalUrl: req.url, url: req.url.slice('/open'.length) });
        return open.handler(req, res);
      }
      res.end('app');
    });
    app.listen(0, '0.0.0.0');
    await once(app, 'listening');
    const port = (app.address() as { port: number }).port;
    const remote = `http://${ns.hostAddress}:${port}`;
    try {
      expect(await ns.fetchFromNamespace(`${remote}/`)).toEqual({ status: 200, body: 'app' });
      for (const path of ['/pgpulse/', '/pgpulse/api/recent', '/pgpulse/api/stream', '/pgpulse/app.js', '/pgpulse/metrics']) {
        const refused = await ns.fetchFromNamespace(`${remote}${path}`);
        expect(refused.status, path).toBe(403);
        expect(refused.body, path).toMatch(/`token`/);
        expect(refused.body, path).toMatch(/public: true/);
      }
      const login = await ns.fetchFromNamespace(`${remote}/pgpulse/api/session`, {
        method: 'POST',
        body: 'token=x',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      expect(login.status).toBe(403);
      expect(closed.stats.forbidden).toBe(6);
      // This machine still gets it, over loopback.
      expect((await send(`http://127.0.0.1:${port}/pgpulse/api/recent`)).status).toBe(200);
      // Opted in: the other host is served.
      expect((await ns.fetchFromNamespace(`${remote}/open/api/recent`)).status).toBe(200);
    } finally {
      await closed.close();
      await open.close();
      await closeServer(app);
    }
  });

  it('with a token, the other host gets the login page (401) and is let in with the token', async () => {
    const server = await startDashboardServer({ db: pulse.db, pubsub: pulse.pubsub, token: 'netns-token-1234567890', host: ns.hostAddress, port: 0 });
    try {
      expect((await ns.fetchFromNamespace(server.url)).status).toBe(401);
      expect((await ns.fetchFromNamespace(`${server.url}api/recent`, { headers: { authorization: 'Bearer netns-token-1234567890' } })).status).toBe(200);
    } finally {
      await server.close();
    }
  });

  it('pgpulse dashboard bound to a non-loopback address without --token: 403 for the other host unless --public', async () => {
    for (const flags of [[], ['--public']]) {
      const child = spawnCli(['dashboard', '--database-url', database.url, '--host', ns.hostAddress, '--port', '0', ...flags]);
      const result = collect(child);
      try {
        const [, url] = await waitForOutput(result, /pgpulse dashboard: (http:\/\/\S+)/);
        expect((await ns.fetchFromNamespace(`${url}api/recent`)).status, flags.join(' ') || 'no flags').toBe(flags.length ? 200 : 403);
        expect(result.output()).toMatch(flags.length ? /with --public and no --token/ : /only this machine is served/);
      } finally {
        child.kill('SIGTERM');
      }
      expect((await result).code).toBe(0);
    }
  });
});

/** The same rule for requests that come from loopback but not from this machine: a local proxy's, or a rebinding page's. */
describe('closed by default: loopback that is not this machine', () => {
  let database: TestDatabase;
  let pulse: Pulse;
  beforeAll(async () => {
    database = await createMigratedTestDatabase();
    pulse = createPulse({ connectionString: database.url, maxWaitMs: 20 });
    await pulse.migrate();
  });
  afterAll(async () => {
    await pulse?.close();
    await database?.drop();
  });

  it('a local proxy forwarding another client (X-Forwarded-For, Forwarded, X-Real-IP) and a DNS-rebinding Host get 403', async () => {
    const dashboard = createDashboard({ db: pulse.db, pubsub: pulse.pubsub });
    const server = createServer(dashboard.handler);
    const base = await listen(server);
    try {
      for (const headers of [
        { 'x-forwarded-for': '203.0.113.5' } as Record<string, string>,
        { 'x-forwarded-for': '127.0.0.1, 203.0.113.5' },
        { forwarded: 'for=203.0.113.5;proto=https' },
        { forwarded: 'for="[2001:db8::1]:4711"' },
        { 'x-real-ip': '203.0.113.5' },
        { host: 'attacker.example' },
        { host: 'localhost.attacker.example:4000' },
      ])
        expect((await send(`${base}/api/recent`, { headers })).status, JSON.stringify(headers)).toBe(403);
      for (const headers of [
        {} as Record<string, string>,
        { 'x-forwarded-for': '127.0.0.1' },
        { host: 'localhost:4000' },
        { host: '[::1]:4000' },
        { forwarded: 'for=127.0.0.1' },
      ])
        expect((await send(`${base}/api/recent`, { headers })).status, JSON.stringify(headers)).toBe(200);
    } finally {
      await dashboard.close();
      await closeServer(server);
    }
  });
});
