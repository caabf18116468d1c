import { createServer, type Server } from 'node:http';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deriveLog, type DeriveContext } from '../../src/capture/derive-log.js';
import { createPulse, type Pulse, type PulseOptions } from '../../src/create-pulse.js';
import { createDashboard, type Dashboard } from '../../src/dashboard/index.js';
import { createListener, type Listener } from '../../src/listen/index.js';
import type { RequestLog } from '../../src/schema/request-log.js';
import { spawnTail, type TailProcess } from '../bridge/fixtures/spawn-tail.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { eventually } from '../support/fixtures.js';
import { closeServer, listen, send } from '../support/http.js';
import { deriveContext } from '../support/derive-context.js';

const TOKEN = 'redaction-token-3b9d';
/** Every secret the requests carry; none may appear in anything pgpulse broadcasts, stores or serves. */
const SECRETS = /tok-s3cr3t|inv-s3cr3t|sid-s3cr3t|rid-s3cr3t|jane@example|hunter2/;

const redact: PulseOptions['redact'] = {
  paths: ['/reset/:token', '/invite/:secret'],
  fields: ['attributes.email'],
  fn: (fields) => ({
    user_agent: fields.user_agent?.replace(/sid=\S+/, 'sid=[redacted]') ?? null,
    request_id: fields.request_id.replace(/rid-s3cr3t-\d+/, 'rid-[redacted]'),
  }),
};

/** The README's example end to end: stored rows, the bridge, `pgpulse tail`, the live dashboard and the export hold only masked values. */
describe('redaction: the masked value is the only one anywhere', () => {
  let database: TestDatabase;
  let pulse: Pulse;
  let server: Server;
  let base: string;
  let listener: Listener;
  let tail: TailProcess;
  let dashboard: Dashboard;
  let dashboardServer: Server;
  let dashboardBase: string;
  const bridged: RequestLog[] = [];
  const published: RequestLog[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    pulse = createPulse({
      connectionString: database.url,
      nodeId: 'redaction',
      notify: true,
      maxWaitMs: 10,
      maintenanceIntervalMs: 0,
      attributes: (req) => ({ plan: 'pro', email: req.headers['x-email'] as string }),
      redact,
    });
    await pulse.migrate();
    pulse.pubsub.subscribe(({ event }) => void published.push(event));
    listener = createListener({ connectionString: database.url });
    listener.pubsub.subscribe(({ event }) => void bridged.push(event));
    await listener.start();
    tail = spawnTail(['--database-url', database.url]);
    await tail.listening;
    dashboard = createDashboard({ db: pulse.db, pubsub: pulse.pubsub, token: TOKEN });
    dashboardServer = createServer(dashboard.handler);
    dashboardBase = await listen(dashboardServer);
    const app = express();
    app.use(pulse.middleware());
    app.get('/reset/:token', (_req, res) => void res.send('reset'));
    app.get('/boom', () => {
      throw new Error('db said password=hunter2');
    });
    app.use(pulse.errorMiddleware());
    app.use((_error: unknown, _req: unknown, res: express.Response, _next: unknown) => void res.status(500).send('error'));
    server = createServer(app);
    base = await listen(server);
  }, 60_000);

  afterAll(async () => {
    if (tail && tail.child.exitCode === null) tail.child.kill('SIGKILL');
    await listener?.close();
    await dashboard?.close();
    if (dashboardServer) await closeServer(dashboardServer);
    if (server) await closeServer(server);
    await pulse?.close();
    await database?.drop();
  });

  it('stored rows, bridge, tail, recent rows and CSV/NDJSON export', async () => {
    const headers = (i: number) => ({
      'user-agent': `Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0 Safari/537.36 sid=sid-s3cr3t-${i}`,
      referer: `https://app.example/invite/inv-s3cr3t-${i}?q=1`,
      'x-request-id': `rid-s3cr3t-${i}`,
      'x-email': 'jane@example.com',
    });
    for (let i = 0; i < 5; i++) expect((await send(`${base}/reset/tok-s3cr3t-${i}?next=%2F`, { headers: headers(i) })).status).toBe(200);
    expect((await send(`${base}/boom`, { headers: headers(9) })).status).toBe(500);
    await pulse.flush();

    const rows = await pulse.db.selectFrom('pgpulse.request_logs').selectAll().orderBy('id').execute();
    expect(rows).toHaveLength(6);
    expect(rows[0]).toMatchObject({
      path: '/reset/[redacted]',
      route: '/reset/:token',
      referer: 'https://app.example/invite/[redacted]',
      referer_host: 'app.example',
      user_agent: 'Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0 Safari/537.36 sid=[redacted]',
      request_id: 'rid-[redacted]',
      attributes: { plan: 'pro', email: '[redacted]' },
      browser: 'Chrome',
    });
    expect(rows[5]!.error).toMatchObject({ message: 'db said password=[redacted]' });
    expect(published).toHaveLength(6);

    await eventually(() => bridged.length === 6 && tail.rows.length === 6, 15_000, 'rows on the bridge and in tail');
    expect(bridged.map((r) => r.path)).toEqual([...Array(5).fill('/reset/[redacted]'), '/boom']);
    expect(tail.rows[0]!.row).toMatchObject({ path: '/reset/[redacted]', referer: 'https://app.example/invite/[redacted]', request_id: 'rid-[redacted]' });

    const auth = { authorization: `Bearer ${TOKEN}` };
    const from = Date.now() - 3_600_000;
    const csv = await send(`${dashboardBase}/api/export?format=csv&from=${from}`, { headers: auth });
    const ndjson = await send(`${dashboardBase}/api/export?format=ndjson&from=${from}`, { headers: auth });
    const recent = await send(`${dashboardBase}/api/recent`, { headers: auth });
    for (const response of [csv, ndjson, recent]) expect(response.status).toBe(200);
    expect(csv.body).toContain('/reset/[redacted]');
    expect(ndjson.body.trim().split('\n')).toHaveLength(6);

    for (const [where, text] of Object.entries({
      rows: JSON.stringify(rows),
      published: JSON.stringify(published),
      bridge: JSON.stringify(bridged),
      tail: JSON.stringify(tail.rows) + tail.junk.join('\n'),
      csv: csv.body,
      ndjson: ndjson.body,
      recent: recent.body,
    }))
      expect(SECRETS.exec(text)?.[0], where).toBeUndefined();
  });

  it('a throwing fn never reaches the app: the request is served, its fields masked, counted and reported', async () => {
    const broken = createPulse({
      connectionString: database.url,
      nodeId: 'broken-redactor',
      maxWaitMs: 10,
      maintenanceIntervalMs: 0,
      redact: {
        fn: () => {
          throw new Error('redactor broke');
        },
      },
    });
    const app = express();
    app.use(broken.middleware());
    app.get('/reset/:token', (_req, res) => void res.send('reset'));
    const brokenServer = createServer(app);
    try {
      const brokenBase = await listen(brokenServer);
      const failed = new Promise<unknown>((resolve) => broken.once('redactionFailed', resolve));
      for (let i = 0; i < 3; i++)
        expect(
          (await send(`${brokenBase}/reset/tok-s3cr3t-${i}`, { headers: { 'x-request-id': `rid-s3cr3t-${i}`, referer: 'https://a.example/x' } })).body,
        ).toBe('reset');
      expect(await failed).toMatchObject({ reason: 'threw', count: 1, detail: 'redact.fn threw: redactor broke' });
      await broken.flush();
      const rows = await broken.db.selectFrom('pgpulse.request_logs').selectAll().where('node_id', '=', 'broken-redactor').execute();
      expect(rows).toHaveLength(3);
      expect(rows[0]).toMatchObject({ path: '/reset/:token', request_id: '[redacted]', referer: '[redacted]', user_agent: null });
      expect(SECRETS.exec(JSON.stringify(rows))?.[0]).toBeUndefined();
      expect(broken.stats.redactionsFailed).toEqual({ threw: 3, invalid: 0 });
      expect(await broken.metrics()).toMatch(/^pgpulse_redactions_failed_total\{reason="threw"\} 3$/m);
    } finally {
      await closeServer(brokenServer);
      await broken.close();
    }
  });
});

describe('redaction cost', () => {
  it('crafted long paths cost a bounded amount of CPU in the capture batch: printed, not asserted', () => {
    const context = (options: PulseOptions['redact']): DeriveContext => deriveContext({ redact: options });
    const patterns = { paths: Array.from({ length: 256 }, (_, i) => `/p${i}/*/reset/:token/x/*rest`) };
    const contexts = { none: context(undefined), '256 patterns': context(patterns) };
    const flat = (text: string) => Buffer.from(text).toString();
    const shapes: Record<string, (i: number) => string> = {
      normal: (i) => `/reset/tok-${i}`,
      '64 KB one segment': (i) => flat(`/reset/${'x'.repeat(65_000)}${i}`),
      '32,000 segments': (i) => flat(`/p1/${'a/'.repeat(32_000)}${i}`),
      '64 KB of literal-length segments': (i) => flat(`${'/reset'.repeat(10_000)}/${i}`),
    };
    const N = 200;
    const lines: string[] = [];
    for (const [name, ctx] of Object.entries(contexts))
      for (const [shape, make] of Object.entries(shapes)) {
        let best = Number.POSITIVE_INFINITY;
        for (let run = 0; run < 3; run++) {
          const requests = Array.from({ length: N }, (_, i) => ({
            method: 'GET',
            url: make(i),
            route: null,
            statusCode: 200,
            startMs: 0,
            durationMs: 1,
            responseBytes: 2,
            headers: { 'user-agent': 'Mozilla/5.0 Chrome/120', referer: `https://a.example${make(i)}` },
            remoteAddress: '127.0.0.1',
          }));
          const before = process.cpuUsage();
          for (const request of requests) deriveLog(request, ctx, Date.now());
          const used = process.cpuUsage(before);
          best = Math.min(best, (used.user + used.system) / N);
        }
        lines.push(`${name}, ${shape}: ${best.toFixed(1)} µs`);
      }
    console.log(`[redaction] capture CPU per request with path and referer redacted (best of 3 runs of ${N}):\n  ${lines.join('\n  ')}`);
    expect(lines).toHaveLength(8);
  });
});
