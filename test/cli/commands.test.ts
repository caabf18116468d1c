import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPulse } from '../../src/create-pulse.js';
import { collect, runCli, spawnCli, waitForOutput } from '../support/cli.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

describe('pgpulse CLI', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await database.drop();
  });

  it('prints help for itself and every command', async () => {
    const main = await runCli(['--help']);
    expect(main.code).toBe(0);
    expect(main.stdout).toMatch(/Usage: pgpulse <command>/);
    expect(main.stdout).toMatch(/Exit codes/);
    const commands = ['migrate', 'maintain', 'dashboard', 'tail', 'demo'];
    const results = await Promise.all(commands.map((command) => runCli([command, '--help'])));
    results.forEach((result, i) => {
      expect(result.code, commands[i]).toBe(0);
      expect(result.stdout).toContain(`Usage: pgpulse ${commands[i]}`);
      expect(result.stdout).toContain('--database-url');
    });
    const viaHelp = await runCli(['help', 'migrate']);
    expect(viaHelp.code).toBe(0);
    expect(viaHelp.stdout).toContain('Usage: pgpulse migrate');
  });

  it('uses documented exit codes for usage errors', async () => {
    const bare = await runCli([]);
    expect(bare.code).toBe(2);
    expect(bare.stderr).toMatch(/Usage: pgpulse <command>/);
    const unknown = await runCli(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown command "frobnicate"/);
    const noUrl = await runCli(['migrate']);
    expect(noUrl.code).toBe(2);
    expect(noUrl.stderr).toMatch(/--database-url .* DATABASE_URL/);
    const badUrl = await runCli(['migrate', '--database-url', 'mysql://x@y/z']);
    expect(badUrl.code).toBe(2);
    expect(badUrl.stderr).toMatch(/not a postgres:\/\/ URL/);
    const badFlag = await runCli(['migrate', '--colour']);
    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr).toMatch(/see pgpulse migrate --help/);
    const badTraceUrl = await runCli(['dashboard', '--database-url', 'postgres://x@127.0.0.1:1/z', '--trace-url', 'javascript:alert(1)//{trace_id}']);
    expect(badTraceUrl.code).toBe(2);
    expect(badTraceUrl.stderr).toMatch(/--trace-url must be an absolute http:\/\/ or https:\/\/ URL/);
  });

  it('exits 3 for an unreachable server and 4 for missing migrations, naming the fix', async () => {
    const unreachable = await runCli(['dashboard', '--database-url', 'postgres://postgres@127.0.0.1:1/x']);
    expect(unreachable.code).toBe(3);
    expect(unreachable.stderr).toMatch(/cannot connect/);
    const wrongDatabase = await runCli(['tail'], { DATABASE_URL: `${database.url}_missing` });
    expect(wrongDatabase.code).toBe(3);
    expect(wrongDatabase.stderr).toMatch(/does not exist/);
    for (const command of [['dashboard', '--port', '0'], ['tail'], ['maintain']]) {
      const notMigrated = await runCli(command, { DATABASE_URL: database.url });
      expect(notMigrated.code, command[0]).toBe(4);
      expect(notMigrated.stderr).toMatch(/missing pgpulse migrations .*run `pgpulse migrate/);
    }
  });

  it('migrate applies the schema once and is idempotent', async () => {
    const first = await runCli(['migrate'], { DATABASE_URL: database.url });
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/applied 0001_request_logs\.sql/);
    const second = await runCli(['migrate', '--database-url', database.url]);
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/already up to date/);
  });

  it('dashboard serves the page fed by the bridge and stops on SIGTERM', async () => {
    const child = spawnCli(['dashboard', '--database-url', database.url, '--port', '0', '--token', 'tok', '--base-path', '/tools/pgpulse/']);
    const result = collect(child);
    const [, url] = await waitForOutput(result, /pgpulse dashboard: (http:\/\/127\.0\.0\.1:\d+\/tools\/pgpulse\/)/);
    expect((await fetch(url!)).status).toBe(401);
    expect((await fetch(`${url}?token=tok`)).status, 'never from the URL').toBe(401);
    expect((await fetch(url!, { headers: { authorization: 'Bearer tok' } })).status).toBe(200);
    expect((await fetch(`${url}app.js`, { headers: { authorization: 'Bearer tok' } })).status).toBe(200);
    const writer = createPulse({ connectionString: database.url, notify: true, maxWaitMs: 10 });
    const stream = await fetch(`${url}api/stream`, { headers: { authorization: 'Bearer tok' } });
    const reader = stream.body!.getReader();
    writer.pubsub.broadcast({ request_id: 'cli-dash', method: 'GET', path: '/via-bridge', status_code: 200, duration_ms: 1, node_id: 'other-node' });
    await writer.flush();
    let text = '';
    const deadline = Date.now() + 10_000;
    while (!text.includes('/via-bridge') && Date.now() < deadline) text += new TextDecoder().decode((await reader.read()).value);
    expect(text).toContain('/via-bridge');
    await reader.cancel();
    await writer.close();
    child.kill('SIGTERM');
    expect((await result).code).toBe(0);
  });
});
