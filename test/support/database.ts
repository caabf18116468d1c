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

/** Creates an isolated database on the test server (or on `adminUrl`). */
export async function createTestDatabase(adminUrl: string = inject('databaseUrl')): Promise<TestDatabase> {
  const name = `pgpulse_t_${randomBytes(6).toString('hex')}`;
  await adminQuery(adminUrl, `create database ${name}`);
  return {
    url: withDatabase(adminUrl, name),
    name,
    async drop() {
      await adminQuery(adminUrl, `drop database if exists ${name} with (force)`);
    },
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
    async drop() {
      await adminQuery(adminUrl, `drop database if exists ${name} with (force)`);
    },
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
