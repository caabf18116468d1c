import { randomBytes } from 'node:crypto';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { migrate } from '../../dist/index.js';
import { maintainPartitions } from '../../dist/store/maintain-partitions.js';
import type { PulseDatabase } from '../../src/schema/database.js';

/** A throwaway database on the bench server. */
export interface BenchDatabase {
  url: string;
  drop(): Promise<void>;
}

async function admin(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** Creates `pgpulse_bench_<random>` on the server of `serverUrl`. */
export async function createBenchDatabase(serverUrl: string): Promise<BenchDatabase> {
  const name = `pgpulse_bench_${randomBytes(4).toString('hex')}`;
  await admin(serverUrl, `create database ${name}`);
  const u = new URL(serverUrl);
  u.pathname = `/${name}`;
  return { url: u.toString(), drop: () => admin(serverUrl, `drop database if exists ${name} with (force)`) };
}

/** Server version string, e.g. `15.20`. */
export async function serverVersion(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query('show server_version')).rows[0].server_version as string;
  } finally {
    await client.end();
  }
}

/** Schema plus today's partitions, as `pulse.migrate()` leaves them (rows never land in the default partition). */
export async function prepareBenchDatabase(url: string): Promise<void> {
  const db = new Kysely<PulseDatabase>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 1 }) }) });
  try {
    await migrate(db);
    await maintainPartitions(db);
  } finally {
    await db.destroy();
  }
}
