import { createServer, type Server } from 'node:http';
import express from 'express';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import type { PulseMessage } from '../../src/pubsub.js';
import { eventually } from '../support/fixtures.js';
import { closeServer, hammer, listen } from '../support/http.js';
import { test } from '../support/migrated-database.js';

describe('Express middleware', () => {
  let pulse: Pulse;
  let server: Server;
  let base: string;
  const seen: PulseMessage[] = [];

  test.beforeAll(async ({ database }) => {
    pulse = createPulse({ connectionString: database.url, nodeId: 'express-node' });
    pulse.pubsub.subscribe((m) => void seen.push(m));
    const app = express();
    app.use(pulse.middleware());
    app.get('/users/:id', (req, res) => {
      res.json({ id: req.params.id });
    });
    const api = express.Router();
    api.get('/orders/:orderId/items', (_req, res) => {
      res.status(201).send('created-ish');
    });
    app.use('/api', api);
    app.get('/boom', () => {
      throw new Error('boom');
    });
    app.get('/health', (_req, res) => {
      res.send('ok');
    });
    server = createServer(app);
    base = await listen(server);
  });

  afterAll(async () => {
    await closeServer(server);
    await pulse.close();
  });

  it('records 1,000 requests as exactly 1,000 correct rows', async () => {
    const paths = Array.from({ length: 1000 }, (_, i) => (i % 4 === 0 ? `/api/orders/${i}/items?x=${i}` : `/users/${i}?secret=1`));
    const statuses = await hammer(base, paths, 25, (i) => ({
      'user-agent': i % 2 ? 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0) Mobile/15E148' : 'Mozilla/5.0 (X11; Linux x86_64) Firefox/121.0',
      referer: 'https://news.example/',
      'x-request-id': `req-${i}`,
    }));
    expect(statuses.every((s) => s === 200 || s === 201)).toBe(true);
    await pulse.flush();
    const rows = await pulse.db.selectFrom('pgpulse.request_logs').selectAll().orderBy('id').execute();
    expect(rows).toHaveLength(1000);
    const byRequest = new Map(rows.map((r) => [r.request_id, r]));
    expect(byRequest.size).toBe(1000);
    for (let i = 0; i < 1000; i++) {
      const row = byRequest.get(`req-${i}`)!;
      expect(row, `request ${i}`).toBeDefined();
      if (i % 4 === 0) {
        expect(row).toMatchObject({ path: `/api/orders/${i}/items`, route: '/api/orders/:orderId/items', status_code: 201, response_bytes: '11' });
      } else {
        expect(row).toMatchObject({ path: `/users/${i}`, route: '/users/:id', status_code: 200 });
        expect(Number(row.response_bytes)).toBe(JSON.stringify({ id: String(i) }).length);
      }
      expect(row.method).toBe('GET');
      expect(row.device_type).toBe(i % 2 ? 'mobile' : 'desktop');
      expect(row.referer).toBe('https://news.example/');
      expect(row.node_id).toBe('express-node');
      expect(row.ip).toBeNull();
      expect(row.visitor_id).toMatch(/^[\w-]{22}$/);
      expect(row.duration_ms).toBeGreaterThan(0);
    }
    const visitors = new Set(rows.slice(10).map((r) => r.visitor_id));
    expect(visitors.size).toBe(2);
    const sent = () => seen.filter((m) => m.type === 'request_sent' && m.event.request_id.startsWith('req-'));
    await eventually(() => sent().length >= 1000, 5_000, 'every request_sent message');
    expect(sent()).toHaveLength(1000);
  });

  it('records errors with status 500, and skips ignored paths', async () => {
    await sql`truncate pgpulse.request_logs`.execute(pulse.db);
    expect(await hammer(base, ['/boom', '/health', '/nope', '/app.js'])).toEqual([500, 200, 404, 404]);
    await pulse.flush();
    const rows = await pulse.db.selectFrom('pgpulse.request_logs').select(['path', 'status_code', 'route']).orderBy('path').execute();
    expect(rows).toEqual([
      { path: '/boom', status_code: 500, route: '/boom' },
      { path: '/nope', status_code: 404, route: null },
    ]);
  });
});
