import { parseArgs } from 'node:util';
import { uninstall, WAL_PUBLICATION } from '../../store/uninstall.js';
import { checkReachable, openDatabase, redactUrl, requireDatabaseUrl } from '../database-url.js';
import { CliError, exitCodes } from '../exit-codes.js';
import { errorMessage } from '../../shared/describe-error.js';

export const uninstallHelp = `Usage: pgpulse uninstall --yes [--database-url URL]

Removes pgpulse from the database: drops the schema pgpulse with every table,
view, function and stored request in it, and the publication
${WAL_PUBLICATION} that migrate creates for the wal listener transport.
It cannot be undone. Stop the apps that write to pgpulse first (their inserts
hold locks the drop waits for, at most 5 s).

Options:
  --yes                 confirm: without it nothing is removed (exit 2)
  --database-url URL    Postgres URL (default: $DATABASE_URL)
  -h, --help            Show this help`;

export async function uninstallCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { 'database-url': { type: 'string' }, yes: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
  });
  if (values.help) {
    console.log(uninstallHelp);
    return exitCodes.ok;
  }
  const url = requireDatabaseUrl(values['database-url'], 'uninstall');
  if (!values.yes) {
    throw new CliError(
      `pgpulse uninstall: this drops the schema pgpulse (every stored request) and the publication ${WAL_PUBLICATION} on ${redactUrl(url)}; run it again with --yes to confirm`,
      exitCodes.usage,
    );
  }
  await checkReachable(url, 'uninstall');
  const connection = openDatabase(url);
  try {
    const result = await uninstall(connection.db);
    const removed = [result.schema ? 'schema pgpulse' : undefined, result.publication ? `publication ${WAL_PUBLICATION}` : undefined].filter(Boolean);
    console.log(`pgpulse uninstall: ${removed.length > 0 ? `dropped ${removed.join(' and ')}` : 'nothing to remove'} on ${redactUrl(url)}`);
    return exitCodes.ok;
  } catch (error) {
    throw new CliError(`pgpulse uninstall failed: ${errorMessage(error)}`, exitCodes.failure, { cause: error });
  } finally {
    await connection.close();
  }
}
