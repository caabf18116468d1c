import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { runDemo } from '../../demo/run-demo.js';
import { checkReachable, requireDatabaseUrl } from '../database-url.js';
import { CliError, exitCodes } from '../exit-codes.js';
import { stopRequested } from '../stop-requested.js';

export const demoHelp = `Usage: pgpulse demo [--database-url URL] [--port 4000] [--rate 20] [--duration SECONDS]

Shows pgpulse end to end in one command: starts a Postgres (embedded, in a temp
directory removed on exit, unless --database-url or $DATABASE_URL is given),
migrates it, runs a small instrumented sample app, drives realistic synthetic
traffic at it and serves the live dashboard. Ctrl-C stops everything cleanly.

Options:
  --database-url URL   use this Postgres instead of an embedded one (default: $DATABASE_URL)
  --port N             dashboard port (default: 4000; a free one if busy)
  --rate N             average synthetic requests per second (default: 20)
  --duration SECONDS   stop by itself after this long (default: run until Ctrl-C)
  --token T            protect the dashboard with a token (default: $PGPULSE_TOKEN; none)
  -h, --help           Show this help`;

function positiveNumber(value: string | undefined, name: string, fallback: number | undefined): number | undefined {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new CliError(`pgpulse demo: --${name} must be a non-negative number, got ${JSON.stringify(value)}`, exitCodes.usage);
  return n;
}

export async function demoCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      'database-url': { type: 'string' },
      port: { type: 'string' },
      rate: { type: 'string' },
      duration: { type: 'string' },
      token: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(demoHelp);
    return exitCodes.ok;
  }
  const given = values['database-url'] ?? (process.env.DATABASE_URL || undefined);
  const databaseUrl = given === undefined ? undefined : requireDatabaseUrl(given, 'demo');
  if (databaseUrl) await checkReachable(databaseUrl, 'demo');
  const durationS = positiveNumber(values.duration, 'duration', undefined);
  const stop = stopRequested();
  try {
    const demo = await runDemo({
      databaseUrl,
      port: positiveNumber(values.port, 'port', 4000),
      ratePerSecond: positiveNumber(values.rate, 'rate', 20),
      token: values.token ?? (process.env.PGPULSE_TOKEN || undefined),
    });
    const elapsed = new AbortController();
    const reason = await Promise.race([
      stop.promise,
      ...(durationS === undefined ? [] : [sleep(durationS * 1000, 'duration elapsed', { signal: elapsed.signal })]),
    ]);
    elapsed.abort();
    console.log(`pgpulse demo: ${reason}; stopping…`);
    await demo.stop();
    console.log(`pgpulse demo: stopped after ${demo.traffic.sent} requests (${demo.pulse.stats.writer?.written ?? 0} rows written)`);
    return exitCodes.ok;
  } finally {
    stop.dispose();
  }
}
