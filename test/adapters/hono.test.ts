import type { Server } from 'node:http';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { afterAll, describe, expect, it } from 'vitest';
import { pgpulseHono } from '../../src/adapters/hono.js';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import { closeServer, hammer } from '../support/http.js';
import { test } from '../support/migrated-database.js';

describe('Hono adapter', () => {
  let pulse: Pulse;
  let server: Server;
  let base: string;

  test.beforeAll(async ({ database }) => {
    pulse = createPulse({ connectionString: database.url, nodeId: 'hono-node', storeIp: true });
    const app = new Hono();
    app.use(pgpulseHono(pulse));
    app.get('/posts/:slug', (c) => c.text(`post ${c.req.param('slug')}`));
    app.get('/throws', () => {
      throw new Error('nope');
    });
    app.onError((_error, c) => c.text('failed', 500));
    base = await new Promise<string>((resolve) => {
      server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => resolve(`http://127.0.0.1:${info.port}`)) as Server;
    });
  });

  afterAll(async () => {
    await closeServer(server);
    await pulse.close();
  });

  it('records route patterns, statuses and client address', async () => {
    await hammer(base, [...Array.from({ length: 100 }, (_, i) => `/posts/p-${i}?ref=x`), '/throws', '/missing'], 10, () => ({ 'user-agent': 'Googlebot/2.1' }));
    await pulse.flush();
    const rows = await pulse.db.selectFrom('pgpulse.request_logs').selectAll().execute();
    expect(rows).toHaveLength(102);
    for (const row of rows.filter((r) => r.path.startsWith('/posts/'))) {
      expect(row).toMatchObject({ route: '/posts/:slug', status_code: 200, device_type: 'bot', ip: '127.0.0.1', node_id: 'hono-node' });
    }
    expect(rows.find((r) => r.path === '/throws')).toMatchObject({ status_code: 500, route: '/throws' });
    expect(rows.find((r) => r.path === '/missing')).toMatchObject({ status_code: 404, route: null });
  });
});
