import { spawnSync } from 'node:child_process';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VisitorIds } from '../../src/capture/visitor-ids.js';
import { utcDay } from '../../src/shared/time.js';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import { createMigratedTestDatabase, type TestDatabase } from '../support/database.js';
import { cliMain } from '../support/cli.js';

describe('privacy and secrets', () => {
  let database: TestDatabase;
  let pulse: Pulse;

  beforeAll(async () => {
    database = await createMigratedTestDatabase();
    pulse = createPulse({ connectionString: database.url });
    await pulse.migrate();
  });
  afterAll(async () => {
    await pulse.close();
    await database.drop();
  });

  it('visitor ids: shared by all nodes within a day, unlinkable across days, old salts deleted', async () => {
    const nodeA = new VisitorIds(pulse.db);
    const nodeB = new VisitorIds(pulse.db);
    const day1 = new Date('2031-05-01T10:00:00Z');
    const day2 = new Date('2031-05-02T10:00:00Z');
    await sql`insert into pgpulse.visitor_salts (day, salt) values ('2031-04-20', 'very-old')`.execute(pulse.db);
    await Promise.all([nodeA.load(utcDay(day1)), nodeB.load(utcDay(day1))]);
    const a1 = nodeA.hash('203.0.113.7', 'UA', day1);
    expect(a1).toBe(nodeB.hash('203.0.113.7', 'UA', day1));
    expect(a1).not.toBe(nodeA.hash('203.0.113.8', 'UA', day1));
    expect(a1).not.toContain('203.0.113.7');
    await nodeA.load(utcDay(day2));
    const a2 = nodeA.hash('203.0.113.7', 'UA', day2);
    expect(a2).not.toBe(a1);
    const days = await sql<{ day: string }>`select day::text from pgpulse.visitor_salts order by day`.execute(pulse.db);
    expect(days.rows.map((r) => r.day)).toEqual(['2031-05-01', '2031-05-02']);
    expect(nodeA.hash(null, 'UA', day2)).toBeNull();
  });

  it('the raw IP is not stored unless storeIp is set', async () => {
    const { createServer } = await import('node:http');
    const { listen, closeServer } = await import('../support/http.js');
    const server = createServer(pulse.wrap((_req, res) => res.end('ok')));
    const base = await listen(server);
    try {
      await fetch(`${base}/private`, { headers: { 'x-forwarded-for': '198.51.100.9' } });
      await pulse.flush();
      const row = await pulse.db.selectFrom('pgpulse.request_logs').selectAll().where('path', '=', '/private').executeTakeFirstOrThrow();
      expect(row.ip).toBeNull();
      expect(JSON.stringify(row)).not.toContain('127.0.0.1');
      expect(JSON.stringify(row)).not.toContain('198.51.100.9');
    } finally {
      await closeServer(server);
    }
  });

  it('the dashboard server binds 127.0.0.1 unless told otherwise', async () => {
    const { startDashboardServer } = await import('../../src/dashboard/index.js');
    const server = await startDashboardServer({ db: pulse.db, pubsub: pulse.pubsub, port: 0 });
    try {
      const address = server.server.address();
      expect(typeof address === 'object' && address?.address).toBe('127.0.0.1');
      expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    } finally {
      await server.close();
    }
  });

  it('the CLI never prints a database password', () => {
    const result = spawnSync(process.execPath, [cliMain, 'migrate', '--database-url', 'postgres://app:s3cr3t-pw@127.0.0.1:1/db'], {
      encoding: 'utf8',
      env: { ...process.env, DATABASE_URL: '' },
    });
    expect(result.status).toBe(3);
    expect(result.stderr).toMatch(/cannot connect/);
    expect(result.stderr + result.stdout).not.toContain('s3cr3t-pw');
  });
});
