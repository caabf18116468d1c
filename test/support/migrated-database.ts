import type { Kysely } from 'kysely';
import type pg from 'pg';
import { test as base } from 'vitest';
import { connect } from '../../src/store/connection.js';
import type { PulseDatabase } from '../../src/schema/database.js';
import { createMigratedTestDatabase, type TestDatabase } from './database.js';

/** A database of its own with every pgpulse migration applied. */
export interface MigratedDatabase extends TestDatabase {
  /** Kysely on a small pool to it, closed after the file's tests. */
  db: Kysely<PulseDatabase>;
  /** The pool behind `db` (4 connections), e.g. a writer's `copyPool`. */
  pool: pg.Pool;
}

/**
 * `test` with a file-scoped `database` fixture: a fresh database with pgpulse
 * migrated (a copy of the run's migrated template), created on first use and
 * dropped after the file's last test.
 * Suite hooks get it too: `test.beforeAll(({ database }) => …)`.
 */
export const test = base.extend<{ $file: { database: MigratedDatabase } }>({
  database: [
    // eslint-disable-next-line no-empty-pattern -- vitest reads a fixture's dependencies from this destructuring pattern
    async ({}, use) => {
      const database = await createMigratedTestDatabase();
      const connection = connect({ connectionString: database.url, poolSize: 4 }, () => {});
      try {
        await use({ ...database, db: connection.db, pool: connection.pool! });
      } finally {
        await connection.close();
        await database.drop();
      }
    },
    { scope: 'file' },
  ],
});
