import { rebuildRollups } from '../../store/rebuild-rollups.js';
import { checkReachable, openDatabase, redactUrl, requireDatabaseUrl, requireMigrated } from '../database-url.js';
import { parseCommandArgs } from '../parse-command-args.js';
import { CliError, exitCodes } from '../exit-codes.js';

export const rebuildRollupsHelp = `Usage: pgpulse rebuild-rollups [--database-url URL] [--from TIME] [--to TIME]

Recomputes the minute and hour rollups (per route, per browser, OS, country,
device and node, and the visitor sketches) of a range from
the raw rows in pgpulse.request_logs. Run it after deleting or truncating rows
by hand, so long-range dashboard stats stop counting them (retention by
\`pgpulse maintain --retention-days\` drops the matching rollups by itself).
The range is widened to whole UTC hours and rebuilt one day per transaction;
writers wait for the day being rebuilt, nothing is lost or counted twice.

Options:
  --database-url URL   Postgres URL (default: $DATABASE_URL)
  --from TIME          start, ISO 8601 (e.g. 2026-11-01 or 2026-11-01T10:00Z; default: the earliest data)
  --to TIME            end, exclusive, ISO 8601 (default: the latest data)
  -h, --help           Show this help`;

function isoTime(value: string | undefined, name: string): Date | undefined {
  if (value === undefined) return undefined;
  const at = /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}(:?\d{2})?)?)?$/.test(value) ? new Date(value) : new Date(Number.NaN);
  if (!Number.isFinite(at.getTime())) {
    throw new CliError(
      `pgpulse rebuild-rollups: --${name} must be an ISO 8601 date or time (e.g. 2026-11-01T10:00Z), got ${JSON.stringify(value)}`,
      exitCodes.usage,
    );
  }
  return at;
}

export async function rebuildRollupsCommand(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(argv, {
    'database-url': { type: 'string' },
    from: { type: 'string' },
    to: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    console.log(rebuildRollupsHelp);
    return exitCodes.ok;
  }
  const url = requireDatabaseUrl(values['database-url'], 'rebuild-rollups');
  const from = isoTime(values.from, 'from');
  const to = isoTime(values.to, 'to');
  if (from && to && from >= to) throw new CliError('pgpulse rebuild-rollups: --from must be before --to', exitCodes.usage);
  await checkReachable(url, 'rebuild-rollups');
  await requireMigrated(url, 'rebuild-rollups');
  const connection = openDatabase(url);
  const { db } = connection;
  try {
    const result = await rebuildRollups(db, {
      from,
      to,
      onChunk: (c) => console.error(`pgpulse rebuild-rollups: rebuilt ${c.from.toISOString()} – ${c.to.toISOString()}`),
    });
    console.log(
      result.from && result.to
        ? `pgpulse rebuild-rollups: rebuilt ${result.from.toISOString()} to ${result.to.toISOString()} (${result.chunks} day chunk(s)) on ${redactUrl(url)}`
        : `pgpulse rebuild-rollups: nothing to rebuild on ${redactUrl(url)}`,
    );
    return exitCodes.ok;
  } finally {
    await connection.close();
  }
}
