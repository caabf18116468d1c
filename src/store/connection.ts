import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { AnySchemaKysely, PulseDatabase } from '../schema/database.js';

/** Where pgpulse gets its Postgres connections: one of the three. */
export interface ConnectionOptions {
  /** Postgres URL; pgpulse opens (and closes) its own small pool. */
  connectionString?: string;
  /** The app's existing pool; pgpulse never ends it. */
  pool?: pg.Pool;
  /** The app's existing Kysely instance; pgpulse never destroys it. */
  db?: AnySchemaKysely;
  /** Connections in the pool pgpulse opens for `connectionString`. Default 4. */
  poolSize?: number;
}

export interface Connection {
  db: Kysely<PulseDatabase>;
  /** The pg pool behind `db` when pgpulse opened it or was given it (the writer COPYs through it); undefined for a given Kysely. */
  pool?: pg.Pool;
  /** Closes only what pgpulse opened. Idempotent. */
  close(): Promise<void>;
}

/** How the pool pgpulse opens for `connectionString` is set up (internal: callers inside pgpulse, not an option). */
export interface PoolSettings {
  /** `application_name` of its connections; undefined leaves it unset. */
  applicationName?: string | undefined;
  /** Timeout of one connection attempt, in milliseconds; undefined waits as long as node-postgres does. */
  connectTimeoutMs?: number | undefined;
  /** Client-side timeout of one query, in milliseconds; undefined means none. */
  queryTimeoutMs?: number | undefined;
}

/**
 * Opens or attaches to Postgres as the options say: the one way pgpulse gets a
 * `Kysely<PulseDatabase>` (createPulse, the listener's query pool, the CLI).
 */
export function connect(options: ConnectionOptions, onPoolError: (error: Error) => void, settings: PoolSettings = { applicationName: 'pgpulse' }): Connection {
  const given = [options.connectionString, options.pool, options.db].filter((v) => v !== undefined).length;
  if (given !== 1) {
    throw new Error(`pgpulse: pass exactly one of connectionString, pool or db (got ${given})`);
  }
  if (options.db) {
    return { db: asPulseDatabase(options.db).withoutPlugins(), close: async () => {} };
  }
  if (options.pool) {
    // Kysely would end the pool on destroy(), so an attached pool's Kysely is simply dropped.
    return { db: new Kysely<PulseDatabase>({ dialect: new PostgresDialect({ pool: options.pool }) }), pool: options.pool, close: async () => {} };
  }
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.poolSize ?? 4,
    application_name: settings.applicationName,
    connectionTimeoutMillis: settings.connectTimeoutMs,
    query_timeout: settings.queryTimeoutMs,
  });
  // Idle clients emit 'error' when Postgres restarts; without a listener that would crash the app.
  pool.on('error', onPoolError);
  // A client checked out between queries (e.g. inside the writer's transaction) has no
  // listener either: a server restart would crash the app. The failed query reports it.
  pool.on('connect', (client) => client.on('error', () => {}));
  const db = new Kysely<PulseDatabase>({ dialect: new PostgresDialect({ pool }) });
  let closing: Promise<void> | undefined;
  // Kysely ends the pool only when it was queried (its driver is initialised on first use), but the
  // writer COPYs through the pool directly: a worker's Kysely may never run a query, and its idle
  // client would keep the thread alive until pg's idle timeout. So the pool is ended here too.
  const close = async () => {
    await db.destroy();
    if (!pool.ended) await pool.end();
  };
  return { db, pool, close: () => (closing ??= close()) };
}

/** A Kysely instance over any schema (e.g. the app's), typed by pgpulse's tables: the same instance, plugins included. */
export function asPulseDatabase(db: AnySchemaKysely): Kysely<PulseDatabase> {
  // The one place a foreign schema is re-typed: Kysely<T> is invariant in T, so no assignment can do it.
  // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment -- an app's Kysely instance, typed by pgpulse's tables
  return db as Kysely<PulseDatabase>;
}
