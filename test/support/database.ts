import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { connect } from '../../src/store/connection.js';
import { migrate } from '../../src/store/migrate.js';

export interface TestDatabase {
  /** URL of a fresh database, private to the caller. */
  url: string;
  name: string;
  /** Terminates its connections and drops it. */
  drop(): Promise<void>;
}

/** URL of the same server, other database. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** Runs one statement on the server's admin database. */
export async function adminQuery(adminUrl: string, text: string, values: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    return await client.query(text, values);
  } finally {
    await client.end();
  }
}

/**
 * Drops a test database once the connections still closing have gone (up to
 * `graceMs`), then by force. Ending a pg pool resolves before its sockets have
 * closed, and a client that is terminated by `with (force)` in that window
 * emits an error on a pool whose idle-error listener is still attached: an
 * uncaught exception in the test process (seen in test/bridge/multi-process).
 */
export async function dropDatabase(adminUrl: string, name: string, graceMs = 2_000): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline) {
      try {
        await client.query(`drop database if exists ${name}`);
        return;
      } catch (error) {
        // 55006 object_in_use: other sessions are still connected.
        if ((error as { code?: string }).code !== '55006') throw error;
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    }
    await client.query(`drop database if exists ${name} with (force)`);
  } finally {
    await client.end();
  }
}

/** Creates an isolated database on the test server (or on `adminUrl`). */
export async function createTestDatabase(adminUrl: string = inject('databaseUrl')): Promise<TestDatabase> {
  const name = `pgpulse_t_${randomBytes(6).toString('hex')}`;
  await adminQuery(adminUrl, `create database ${name}`);
  return {
    url: withDatabase(adminUrl, name),
    name,
    drop: () => dropDatabase(adminUrl, name),
  };
}

/**
 * Creates an isolated database with every pgpulse migration applied, copied
 * from the run's migrated template (see `migrated-template.ts`). On another
 * server than the run's (`adminUrl` given), it creates and migrates one.
 */
export async function createMigratedTestDatabase(adminUrl: string = inject('databaseUrl')): Promise<TestDatabase> {
  if (adminUrl !== inject('databaseUrl')) {
    const database = await createTestDatabase(adminUrl);
    await migrateDatabase(database.url);
    return database;
  }
  const name = `pgpulse_t_${randomBytes(6).toString('hex')}`;
  await adminQuery(adminUrl, `create database ${name} template ${inject('migratedTemplate')}`);
  return {
    url: withDatabase(adminUrl, name),
    name,
    drop: () => dropDatabase(adminUrl, name),
  };
}

/** Applies every pgpulse migration to the database at `url`. */
export async function migrateDatabase(url: string): Promise<void> {
  const connection = connect({ connectionString: url, poolSize: 1 }, () => {});
  try {
    await migrate(connection.db);
  } finally {
    await connection.close();
  }
}
