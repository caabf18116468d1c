import pg from 'pg';
import { CliError, exitCodes } from './exit-codes.js';
import { connect, type Connection } from '../store/connection.js';
import { pendingMigrations } from '../store/migrate.js';
import { errorMessage } from '../shared/describe-error.js';

/** `--database-url` or `DATABASE_URL`; a usage error naming both when neither is set. */
export function requireDatabaseUrl(flag: string | undefined, command: string): string {
  const url = flag ?? process.env.DATABASE_URL;
  if (!url) throw new CliError(`pgpulse ${command}: no database given; pass --database-url postgres://… or set DATABASE_URL`, exitCodes.usage);
  try {
    const parsed = new URL(url);
    if (!/^postgres(ql)?:$/.test(parsed.protocol)) throw new Error(`protocol ${parsed.protocol}`);
  } catch (error) {
    throw new CliError(`pgpulse ${command}: --database-url is not a postgres:// URL (${errorMessage(error)})`, exitCodes.usage, { cause: error });
  }
  return url;
}

/** Hides the password of a URL for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(invalid url)';
  }
}

/** Connects once to check the server answers; a CliError with exit code 3 when it does not. */
export async function checkReachable(url: string, command: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('select 1');
  } catch (error) {
    throw new CliError(`pgpulse ${command}: cannot connect to ${redactUrl(url)}: ${errorMessage(error)}`, exitCodes.unreachable, { cause: error });
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * A command's connection to `url`, opened through the store's `connect()`:
 * `poolSize` connections (default 1), an idle connection's failure ignored
 * (the next query reports it). Close it when done.
 */
export function openDatabase(url: string, options: { poolSize?: number; applicationName?: string } = {}): Connection {
  return connect({ connectionString: url, poolSize: options.poolSize ?? 1 }, () => {}, { applicationName: options.applicationName });
}

/** Throws exit code 4 naming `pgpulse migrate` when the schema is missing or behind. */
export async function requireMigrated(url: string, command: string): Promise<void> {
  const connection = openDatabase(url);
  const { db } = connection;
  try {
    const pending = await pendingMigrations(db);
    if (pending.length > 0) {
      throw new CliError(
        `pgpulse ${command}: database ${redactUrl(url)} is missing pgpulse migrations (${pending.join(', ')}); run \`pgpulse migrate --database-url …\` first`,
        exitCodes.notMigrated,
      );
    }
  } finally {
    await connection.close();
  }
}
