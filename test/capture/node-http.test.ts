import { createServer, type Server } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import { eventually } from '../support/fixtures.js';
import { abortAfter, closeServer, hammer, listen } from '../support/http.js';
import { test } from '../support/migrated-database.js';

describe('bare node:http', () => {
  let pulse: Pulse;
  let server: Server;
  let base: string;
  let seen = 0;

  test.beforeAll(async ({ database }) => {
    pulse = createPulse({ connectionString: database.url, nodeId: 'http-node', storeIp: true });
    pulse.pubsub.subscribe(() => {
      seen++;
    });
    const middleware = pulse.middleware();
    server = createServer((req, res) => {
      middleware(req, res, () => {
        if (req.url?.startsWith('/stream')) {
          res.write('a');
          res.write(Buffer.from('bc'));
          res.end('déf');
          return;
        }
        res.statusCode = req.url === '/missing' ? 404 : 200;
        res.end('hello');
      });
    });
    base = await listen(server);
  });

  afterAll(async () => {
    await closeServer(server);
    await pulse.close();
  });

  it('records 1,000 requests as exactly 1,000 correct rows', async () => {
    const paths = Array.from({ length: 1000 }, (_, i) => (i % 10 === 0 ? '/missing' : i % 10 === 1 ? `/stream/${i}` : `/items/${i}?page=2`));
    await hammer(base, paths, 30, (i) => ({ 'x-request-id': `n-${i}` }));
    await pulse.flush();
    const rows = await pulse.db.selectFrom('pgpulse.request_logs').selectAll().execute();
    expect(rows).toHaveLength(1000);
    const byId = new Map(rows.map((r) => [r.request_id, r]));
    for (let i = 0; i < 1000; i++) {
      const row = byId.get(`n-${i}`)!;
      if (i % 10 === 0) expect(row).toMatchObject({ path: '/missing', status_code: 404, response_bytes: '5' });
      else if (i % 10 === 1) expect(row).toMatchObject({ path: `/stream/${i}`, status_code: 200, response_bytes: String(3 + Buffer.byteLength('déf')) });
      else expect(row).toMatchObject({ path: `/items/${i}`, status_code: 200, response_bytes: '5', route: null });
      expect(row.ip).toBe('127.0.0.1');
      expect(row.node_id).toBe('http-node');
    }
    expect(seen).toBe(1000);
  });

  it('wrap() captures a plain handler', async () => {
    const wrapped = createServer(pulse.wrap((_req, res) => res.end('wrapped')));
    const url = await listen(wrapped);
    try {
      await hammer(url, ['/wrapped-path']);
      await pulse.flush();
      const row = await pulse.db.selectFrom('pgpulse.request_logs').selectAll().where('path', '=', '/wrapped-path').executeTakeFirst();
      expect(row).toMatchObject({ status_code: 200, response_bytes: '7' });
    } finally {
      await closeServer(wrapped);
    }
  });

  it('records a client that disconnects early as 499', async () => {
    let handlerStarted!: () => void;
    const running = new Promise<void>((resolve) => (handlerStarted = resolve));
    // The handler never answers: the client goes away while it runs.
    const slow = createServer(pulse.wrap(() => handlerStarted()));
    const url = await listen(slow);
    try {
      await abortAfter(`${url}/slow`, running);
      const stored = () => pulse.db.selectFrom('pgpulse.request_logs').selectAll().where('path', '=', '/slow').executeTakeFirst();
      await eventually(
        async () => {
          await pulse.flush();
          return (await stored()) !== undefined;
        },
        10_000,
        'the row of the aborted request',
      );
      expect(await stored()).toMatchObject({ status_code: 499 });
    } finally {
      await closeServer(slow);
    }
  });
});
