import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AlertRule } from '../../src/alerts/alert-rules.js';
import { createMigratedTestDatabase, type TestDatabase } from '../support/database.js';
import { eventually } from '../support/fixtures.js';
import { closeServer, listen } from '../support/http.js';

const nodeScript = fileURLToPath(new URL('./fixtures/alert-node.ts', import.meta.url));
const rules: AlertRule[] = [{ kind: 'noTraffic', name: 'silent', windowMs: 1_000 }];
const TIMEOUT_MS = 4_000;

function spawnNode(url: string, id: string, webhook: string): { child: ChildProcess; ready: Promise<number> } {
  const child = spawn(process.execPath, ['--import', 'tsx', nodeScript], {
    env: {
      ...process.env,
      TEST_DATABASE_URL: url,
      NODE_ID: id,
      ALERT_RULES: JSON.stringify(rules),
      WEBHOOK_URL: webhook,
      WEBHOOK_TIMEOUT_MS: String(TIMEOUT_MS),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const ready = new Promise<number>((resolve) =>
    createInterface({ input: child.stdout }).on('line', (line) => line.startsWith('ready ') && resolve(Number(line.slice(6)))),
  );
  return { child, ready };
}

/**
 * The evaluating process stalls (SIGSTOP: a long GC pause, a starved CPU) while
 * its notification is at the receiver, unanswered. Its 600 ms lease would
 * lapse and another process would send the same event again from the outbox;
 * the attempt keeps the lease for the webhook's timeout instead, so the
 * receiver gets the event once.
 */
describe('alert lease during a delivery', () => {
  let database: TestDatabase;
  let sql: pg.Pool;
  const held: { req: IncomingMessage; res: ServerResponse; id: string }[] = [];
  const server = createServer((req, res) => {
    req.resume().on('end', () => held.push({ req, res, id: String(req.headers['x-pgpulse-delivery']) }));
  });
  let url = '';
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    database = await createMigratedTestDatabase();
    sql = new pg.Pool({ connectionString: database.url, max: 2 });
    url = await listen(server);
  });
  afterAll(async () => {
    for (const child of children) {
      child.kill('SIGCONT');
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGKILL');
        await exited;
      }
    }
    for (const { res } of held) if (!res.writableEnded) res.writeHead(200).end();
    await closeServer(server);
    await sql?.end();
    await database?.drop();
  }, 60_000);

  const holder = async () =>
    ((await sql.query(`select holder from pgpulse.alert_leases where expires_at > now()`)).rows[0] as { holder: string } | undefined)?.holder;

  it('a stalled evaluator keeps the lease while its attempt may still arrive: the event reaches the receiver once', async () => {
    const a = spawnNode(database.url, 'node-a', url);
    children.push(a.child);
    const port = await a.ready;
    // Some traffic, then none: 'silent' (no traffic for 1 s) fires.
    for (let i = 0; i < 5; i++) await fetch(`http://127.0.0.1:${port}/ok`).then((r) => r.text());
    await eventually(async () => (await holder())?.startsWith('node-a#') === true, 30_000, 'node-a to hold the lease');
    const b = spawnNode(database.url, 'node-b', url);
    children.push(b.child);
    await b.ready;
    // The notification of 'silent' arrives and is held unanswered. Its sender holds the lease (a loaded machine
    // may have moved it to node-b before): that process stalls.
    await eventually(() => held.length === 1, 30_000, 'the notification');
    const sender = await holder();
    const stalled = (sender?.startsWith('node-a#') ? a : b).child;
    stalled.kill('SIGSTOP');
    // Well past the 600 ms lease, with the other process evaluating every 200 ms.
    const stalledAt = Date.now();
    await eventually(async () => Date.now() - stalledAt > 2_000, 5_000, 'two seconds');
    expect(await holder()).toBe(sender);
    expect(held).toHaveLength(1);
    stalled.kill('SIGCONT');
    held[0]!.res.writeHead(200).end();
    await eventually(
      async () => Number((await sql.query(`select count(*) from pgpulse.alert_events where notified_at is null`)).rows[0].count) === 0,
      30_000,
      'the event recorded as delivered',
    );
    // A few more evaluations by both: nothing else arrives.
    const after = Date.now();
    await eventually(async () => Date.now() - after > 1_000, 5_000, 'a second');
    expect(held.map((h) => h.id)).toHaveLength(1);
  });
});
