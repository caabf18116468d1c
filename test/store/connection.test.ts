import { sql } from 'kysely';
import pg from 'pg';
import { expect } from 'vitest';
import { connect } from '../../src/store/connection.js';
import { test } from '../support/migrated-database.js';

/** Backends of `application_name` on the test database, other than the asking one. */
async function backends(url: string, applicationName: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: string }>(
      'select count(*) as n from pg_stat_activity where datname = current_database() and application_name = $1 and pid <> pg_backend_pid()',
      [applicationName],
    );
    return Number(rows[0]!.n);
  } finally {
    await client.end();
  }
}

test('close() ends the pool it opened even when its Kysely never ran a query (the writer COPYs through the pool)', async ({ database }) => {
  const connection = connect({ connectionString: database.url }, () => {}, { applicationName: 'pgpulse-close-test' });
  await connection.pool!.query('select 1');
  expect(await backends(database.url, 'pgpulse-close-test')).toBe(1);
  await Promise.all([connection.close(), connection.close()]);
  expect(connection.pool!.ended).toBe(true);
  expect(connection.pool!.totalCount).toBe(0);
  expect(await backends(database.url, 'pgpulse-close-test')).toBe(0);
});

test('close() after Kysely queries ends the pool once', async ({ database }) => {
  const connection = connect({ connectionString: database.url }, () => {}, { applicationName: 'pgpulse-close-test' });
  await sql`select 1`.execute(connection.db);
  await connection.pool!.query('select 1');
  await connection.close();
  await connection.close();
  expect(connection.pool!.ended).toBe(true);
  expect(await backends(database.url, 'pgpulse-close-test')).toBe(0);
});

test('close() never ends a pool the app gave', async ({ database }) => {
  const pool = new pg.Pool({ connectionString: database.url, max: 1 });
  try {
    const connection = connect({ pool }, () => {});
    await sql`select 1`.execute(connection.db);
    await connection.close();
    expect(pool.ended).toBe(false);
    expect((await pool.query<{ one: number }>('select 1 as one')).rows[0]!.one).toBe(1);
  } finally {
    await pool.end();
  }
});
