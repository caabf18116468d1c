import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { pgpulseFastify } from '../../src/adapters/fastify.js';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import { hammer } from '../support/http.js';
import { test } from '../support/migrated-database.js';

describe('Fastify adapter', () => {
  let pulse: Pulse;
  let app: FastifyInstance;
  let base: string;

  test.beforeAll(async ({ database }) => {
    pulse = createPulse({ connectionString: database.url, nodeId: 'fastify-node' });
    app = Fastify();
    await app.register(pgpulseFastify(pulse));
    await app.register(
      async (scoped) => {
        scoped.get('/users/:id', async (request) => ({ id: (request.params as { id: string }).id }));
      },
      { prefix: '/v1' },
    );
    app.get('/fail', async (_request, reply) => reply.code(503).send('down'));
    base = await app.listen({ port: 0, host: '127.0.0.1' });
  });

  afterAll(async () => {
    await app.close();
    await pulse.close();
  });

  it('records route patterns from encapsulated plugins, statuses and sizes', async () => {
    const paths = [...Array.from({ length: 200 }, (_, i) => `/v1/users/${i}?q=1`), '/fail', '/missing', '/style.css'];
    await hammer(base, paths, 10, () => ({ 'user-agent': 'Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X)' }));
    await pulse.flush();
    const rows = await pulse.db.selectFrom('pgpulse.request_logs').selectAll().execute();
    expect(rows).toHaveLength(202);
    const users = rows.filter((r) => r.path.startsWith('/v1/users/'));
    expect(users).toHaveLength(200);
    for (const row of users) {
      expect(row).toMatchObject({ route: '/v1/users/:id', status_code: 200, device_type: 'tablet', node_id: 'fastify-node' });
      expect(Number(row.response_bytes)).toBeGreaterThan(0);
    }
    expect(rows.find((r) => r.path === '/fail')).toMatchObject({ status_code: 503, route: '/fail' });
    expect(rows.find((r) => r.path === '/missing')).toMatchObject({ status_code: 404 });
  });
});
