import { once } from 'node:events';
import { DEFAULT_CHANNEL } from '../../bridge/message.js';
import { createListener, type Listener } from '../../listen/index.js';
import type { StoredRequestLog } from '../../schema/request-log.js';
import { requestLogColumnNames } from '../../schema/columns.js';
import { checkReachable, requireDatabaseUrl, requireMigrated } from '../database-url.js';
import { parseCommandArgs } from '../parse-command-args.js';
import { CliError, exitCodes } from '../exit-codes.js';
import { listenerArgOptions, parseTransport, transportHelp } from '../transport-option.js';
import { stopRequested } from '../stop-requested.js';
import { errorMessage } from '../../shared/describe-error.js';

export const tailHelp = `Usage: pgpulse tail [--database-url URL] [--listen-database-url URL] [--transport notify|wal] [--channel NAME] [--since ISO]

Prints every row committed by apps running pgpulse, as one JSON object per line
(NDJSON) on stdout, from the NOTIFY bridge (writers with notify enabled) or the WAL. Each row is
printed exactly once, including rows committed while the connection was down.
Warnings and a closing summary go to stderr. Stops cleanly on SIGINT/SIGTERM.

Options:
  --database-url URL         Postgres URL (default: $DATABASE_URL)
  --listen-database-url URL  separate URL for the LISTEN connection, e.g. to bypass
                             a transaction-mode pooler (default: --database-url)
${transportHelp}
  --channel NAME             NOTIFY channel (default: ${DEFAULT_CHANNEL})
  --since ISO                also print rows inserted since this time (default: from now)
  -h, --help                 Show this help`;

/** One NDJSON line: `id`, then the columns in list (table) order, `inserted_at` as ISO 8601. */
export function toNdjsonLine(row: StoredRequestLog): string {
  const line: Record<string, unknown> = { id: row.id };
  for (const name of requestLogColumnNames) line[name] = row[name];
  // JSON.stringify writes Dates as ISO 8601.
  return `${JSON.stringify(line)}\n`;
}

function parseTailArgs(argv: string[]) {
  const { values } = parseCommandArgs(argv, {
    ...listenerArgOptions,
    since: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  return values;
}

function parseSince(value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const since = new Date(value);
  if (Number.isNaN(since.getTime())) throw new CliError(`pgpulse tail: --since is not a date: ${JSON.stringify(value)}`, exitCodes.usage);
  return since;
}

function reportToStderr(listener: Listener): void {
  listener.on('disconnected', ({ error }) => console.error(`pgpulse tail: connection lost (${error.message}); reconnecting`));
  listener.on('reconnected', ({ attempts, downMs }) => console.error(`pgpulse tail: reconnected after ${attempts} attempt(s), ${downMs} ms`));
  listener.on('caughtUp', ({ rows }) => console.error(`pgpulse tail: caught up ${rows} row(s) committed while disconnected`));
  listener.on('malformed', ({ error }) => console.error(`pgpulse tail: ignored a payload: ${error.message}`));
  listener.on('listenerError', ({ error }) => console.error(error.message));
}

function summary(listener: Listener): string {
  const s = listener.stats;
  return `pgpulse tail: stopped; delivered=${s.delivered} malformed=${s.malformed} duplicatesSkipped=${s.duplicatesSkipped} caughtUp=${s.caughtUp} reconnects=${s.reconnects} fetched=${s.fetched} missing=${s.missing}`;
}

export async function tailCommand(argv: string[]): Promise<number> {
  const values = parseTailArgs(argv);
  if (values.help) {
    console.log(tailHelp);
    return exitCodes.ok;
  }
  const url = requireDatabaseUrl(values['database-url'], 'tail');
  const listenUrl = values['listen-database-url'] === undefined ? url : requireDatabaseUrl(values['listen-database-url'], 'tail');
  const since = parseSince(values.since);
  await checkReachable(url, 'tail');
  if (listenUrl !== url) await checkReachable(listenUrl, 'tail');
  await requireMigrated(url, 'tail');

  const transport = parseTransport(values.transport, 'tail');
  const listener = createListener({ transport, connectionString: url, listenConnectionString: listenUrl, channel: values.channel ?? DEFAULT_CHANNEL, since });
  const stop = stopRequested(process.stdout);
  listener.pubsub.subscribe(
    async ({ event }) => {
      if (!process.stdout.write(toNdjsonLine(event as StoredRequestLog))) await once(process.stdout, 'drain');
    },
    { name: 'pgpulse-tail', maxQueue: Number.MAX_SAFE_INTEGER },
  );
  reportToStderr(listener);
  try {
    await listener.start();
  } catch (error) {
    stop.dispose();
    await listener.close();
    throw new CliError(errorMessage(error), exitCodes.unreachable, { cause: error });
  }
  const source = transport === 'wal' ? 'the WAL (publication pgpulse_request_logs)' : `channel "${listener.channel}"`;
  console.error(`pgpulse tail: listening on ${source} (Ctrl-C to stop)`);
  const reason = await stop.promise;
  stop.dispose();
  await listener.close();
  await drained(listener);
  console.error(`${summary(listener)} (${reason})`);
  return exitCodes.ok;
}

/** Waits (up to 5 s) until every published row has been written to stdout. */
async function drained(listener: Listener): Promise<void> {
  const deadline = Date.now() + 5_000;
  const { pubsub } = listener;
  while (pubsub.stats.delivered + pubsub.stats.errors + pubsub.stats.dropped < pubsub.stats.broadcast && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
