import pg from 'pg';
import { afterEach, describe, expect, test } from 'vitest';
import { runCli } from '../support/cli.js';
import { createMigratedTestDatabase, type TestDatabase } from '../support/database.js';

describe('pgpulse uninstall', () => {
  let database: TestDatabase | undefined;
  afterEach(async () => {
    await database?.drop();
    database = undefined;
  });

  const installed = async (url: string) => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query<{ schema: boolean; publication: boolean }>(
        `select exists (select 1 from pg_namespace where nspname = 'pgpulse') as schema,
                exists (select 1 from pg_publication where pubname = 'pgpulse_request_logs') as publication`,
      );
      return rows[0]!;
    } finally {
      await client.end();
    }
  };

  test('without --yes removes nothing and exits 2; with --yes drops the schema and the publication; again: nothing to remove', async () => {
    database = await createMigratedTestDatabase();
    expect(await installed(database.url)).toEqual({ schema: true, publication: true });

    const refused = await runCli(['uninstall', '--database-url', database.url]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/--yes/);
    expect(await installed(database.url)).toEqual({ schema: true, publication: true });

    const done = await runCli(['uninstall', '--yes', '--database-url', database.url]);
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toMatch(/dropped schema pgpulse and publication pgpulse_request_logs/);
    expect(await installed(database.url)).toEqual({ schema: false, publication: false });

    const again = await runCli(['uninstall', '--yes', '--database-url', database.url]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/nothing to remove/);

    // migrate installs it again from scratch.
    const migrated = await runCli(['migrate', '--database-url', database.url]);
    expect(migrated.code, migrated.stderr).toBe(0);
    expect(await installed(database.url)).toEqual({ schema: true, publication: true });
  }, 120_000);
});
