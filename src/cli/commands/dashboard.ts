import { readFileSync } from 'node:fs';
import type { Kysely } from 'kysely';
import { DEFAULT_CHANNEL } from '../../bridge/message.js';
import { startDashboardServer, startMetricsServer, type MetricsServer } from '../../dashboard/index.js';
import { checkPostgres } from '../../health/check-postgres.js';
import { observeListener } from '../../metrics/listener-metrics.js';
import { pgpulseMetrics } from '../../metrics/pgpulse-metrics.js';
import { loadPromClient } from '../../metrics/prom-client.js';
import { createListener, type Listener } from '../../listen/index.js';
import type { MetricsRegistry } from '../../metrics/metrics-registry.js';
import type { PulseDatabase } from '../../schema/database.js';
import { checkReachable, openDatabase, requireDatabaseUrl, requireMigrated } from '../database-url.js';
import { parseCommandArgs, type ParsedCommandArgs } from '../parse-command-args.js';
import { CliError, exitCodes } from '../exit-codes.js';
import { listenerArgOptions, parseTransport, transportHelp } from '../transport-option.js';
import { parseTraceUrl } from '../../dashboard/trace-url.js';
import { stopRequested } from '../stop-requested.js';
import { compileTrustProxy } from '../../capture/trust-proxy.js';
import { errorMessage } from '../../shared/describe-error.js';

export const dashboardHelp = `Usage: pgpulse dashboard [--database-url URL] [--listen-database-url URL] [--transport notify|wal] [--stats-database-url URL]
                         [--channel NAME] [--port 4000] [--host 127.0.0.1] [--token T] [--base-path /pgpulse]
                         [--metrics-port N] [--own-host HOST]... [--trace-url 'https://…/{trace_id}']
                         [--public] [--trust-proxy VALUE] [--secure-cookies] [--tls-cert FILE --tls-key FILE]

Serves the live dashboard as its own process: history from Postgres, fresh rows
pushed live from the NOTIFY bridge (apps must run pgpulse with notify: true).
Stops cleanly on SIGINT/SIGTERM.

Options:
  --database-url URL         Postgres URL (default: $DATABASE_URL)
  --listen-database-url URL  separate URL for the LISTEN connection (default: --database-url)
${transportHelp}
  --stats-database-url URL   read stats and recent rows here, e.g. a read replica
                             (default: --database-url; the bridge stays on the primary)
  --channel NAME             NOTIFY channel (default: ${DEFAULT_CHANNEL})
  --port N                   TCP port (default: 4000; 0 = any free port)
  --host ADDR                interface to bind (default: 127.0.0.1)
  --token T                  require this token on every route (default: $PGPULSE_TOKEN; none);
                             the page asks for it once, API clients send Authorization: Bearer
  --public                   without a token, serve other machines too (default: a tokenless
                             dashboard answers only loopback clients; others get 403)
  --trust-proxy VALUE        proxies allowed to set X-Forwarded-For/-Proto for the client address
                             (wrong-token throttle) and HTTPS (Secure cookie): loopback, an address,
                             a CIDR, a comma-separated list, a hop count, or true (default: none)
  --secure-cookies           always mark the session cookie Secure (default: when the request
                             came over TLS, here or through a trusted proxy)
  --tls-cert FILE            serve HTTPS with this PEM certificate (with --tls-key)
  --tls-key FILE             the PEM private key of --tls-cert
  --base-path PATH           serve under this sub-path, for a reverse proxy that does not strip it (default: /)
  --metrics-port N           also serve GET /metrics (and /healthz) on this port, same host and token
                             (default: none; /metrics and /healthz are always on the dashboard port)
  --own-host HOST            the app's own host name, left out of the referrers panel (internal
                             navigation is not a referral); repeat it or separate with commas,
                             e.g. --own-host shop.example.com,admin.example.com (default: none; only
                             the dashboard's own Host, which a standalone dashboard does not share)
  --trace-url TEMPLATE       link rows to their trace: an http(s) URL in which {trace_id}
                             (and {span_id}) are replaced, e.g. 'https://tempo.example/trace/{trace_id}'
  -h, --help                 Show this help`;

function parsePort(value: string | undefined, flag = '--port'): number {
  if (value === undefined) return 4000;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65_535)
    throw new CliError(`pgpulse dashboard: ${flag} must be 0–65535, got ${JSON.stringify(value)}`, exitCodes.usage);
  return port;
}

/** `--base-path`: '' for the root, else `/segment[/segment…]` without a trailing slash. */
export function parseBasePath(value: string | undefined): string {
  if (value === undefined) return '';
  const trimmed = value.replace(/\/+$/, '');
  if (trimmed === '') return '';
  if (!/^(?:\/[\w.~-]+)+$/.test(trimmed))
    throw new CliError(`pgpulse dashboard: --base-path must look like /pgpulse or /tools/pgpulse, got ${JSON.stringify(value)}`, exitCodes.usage);
  return trimmed;
}

/** `--own-host`: host names (optionally with a port), from repeated flags and comma-separated lists. */
export function parseOwnHosts(values: readonly string[] | undefined): string[] {
  const hosts = (values ?? []).flatMap((value) => value.split(',')).map((host) => host.trim());
  for (const host of hosts) {
    if (!/^(?:\[[\da-f:.]+\]|[\w.-]+)(?::\d{1,5})?$/i.test(host))
      throw new CliError(
        `pgpulse dashboard: --own-host must be a host name such as shop.example.com (no scheme or path), got ${JSON.stringify(host)}`,
        exitCodes.usage,
      );
  }
  return hosts;
}

/** `--trace-url`: checked before anything connects, as a usage error. */
function parseTraceUrlFlag(value: string): string {
  try {
    return parseTraceUrl(value, '--trace-url');
  } catch (error) {
    throw new CliError(errorMessage(error), exitCodes.usage, { cause: error });
  }
}

/** `--trust-proxy`: Express's `trust proxy` values (`true`, a hop count, addresses/CIDRs/names). */
export function parseTrustProxyFlag(value: string | undefined): boolean | number | string | undefined {
  if (value === undefined) return undefined;
  if (value === 'true' || value === 'false') return value === 'true';
  if (/^\d+$/.test(value)) return Number(value);
  try {
    compileTrustProxy(value);
  } catch (error) {
    throw new CliError(`pgpulse dashboard: --trust-proxy: ${errorMessage(error)}`, exitCodes.usage, { cause: error });
  }
  return value;
}

/** `--tls-cert`/`--tls-key`: both or neither, read before anything connects. */
function readTls(cert: string | undefined, key: string | undefined): { cert: Buffer; key: Buffer } | undefined {
  if (cert === undefined && key === undefined) return undefined;
  if (cert === undefined || key === undefined) throw new CliError('pgpulse dashboard: --tls-cert and --tls-key go together', exitCodes.usage);
  try {
    return { cert: readFileSync(cert), key: readFileSync(key) };
  } catch (error) {
    throw new CliError(`pgpulse dashboard: cannot read the TLS files (${errorMessage(error)})`, exitCodes.usage, { cause: error });
  }
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

const dashboardArgOptions = {
  ...listenerArgOptions,
  'stats-database-url': { type: 'string' },
  port: { type: 'string' },
  host: { type: 'string' },
  token: { type: 'string' },
  'base-path': { type: 'string' },
  'metrics-port': { type: 'string' },
  'own-host': { type: 'string', multiple: true },
  'trace-url': { type: 'string' },
  public: { type: 'boolean' },
  'trust-proxy': { type: 'string' },
  'secure-cookies': { type: 'boolean' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type DashboardValues = ParsedCommandArgs<typeof dashboardArgOptions>['values'];

/** What `pgpulse dashboard` serves, from its flags, checked before anything connects or listens. */
type DashboardConfig = ReturnType<typeof dashboardConfig>;

/** The flags as a {@link DashboardConfig}; a usage error (exit 2) for a bad one, at once. */
function dashboardConfig(values: DashboardValues) {
  const url = requireDatabaseUrl(values['database-url'], 'dashboard');
  const listenUrl = values['listen-database-url'] === undefined ? url : requireDatabaseUrl(values['listen-database-url'], 'dashboard');
  const statsUrl = values['stats-database-url'] === undefined ? url : requireDatabaseUrl(values['stats-database-url'], 'dashboard');
  const port = parsePort(values.port);
  const metricsPort = values['metrics-port'] === undefined ? undefined : parsePort(values['metrics-port'], '--metrics-port');
  // Checked before anything connects or listens: a usage error exits 2 at once.
  if (metricsPort !== undefined && !loadPromClient())
    throw new CliError(`pgpulse dashboard: --metrics-port needs prom-client, an optional peer dependency: npm i prom-client`, exitCodes.usage);
  return {
    values,
    url,
    listenUrl,
    statsUrl,
    port,
    metricsPort,
    token: values.token ?? (process.env.PGPULSE_TOKEN || undefined),
    basePath: parseBasePath(values['base-path']),
    ownHosts: parseOwnHosts(values['own-host']),
    traceUrl: values['trace-url'] === undefined ? undefined : parseTraceUrlFlag(values['trace-url']),
    trustProxy: parseTrustProxyFlag(values['trust-proxy']),
    tls: readTls(values['tls-cert'], values['tls-key']),
  };
}

/** The database (and the stats database, when another) answers and is migrated. */
async function checkDatabases({ url, statsUrl }: DashboardConfig): Promise<void> {
  await checkReachable(url, 'dashboard');
  await requireMigrated(url, 'dashboard');
  if (statsUrl !== url) {
    await checkReachable(statsUrl, 'dashboard');
    await requireMigrated(statsUrl, 'dashboard');
  }
}

/** Ready when Postgres answers and the LISTEN connection is up (it reconnects by itself). */
function dashboardHealth(db: Kysely<PulseDatabase>, listener: Listener) {
  return async () => {
    const postgres = await checkPostgres(db, 2_000);
    const stats = listener.stats;
    const listening = stats.disconnects === stats.reconnects;
    return { ok: postgres.ok && listening, postgres, listener: { ok: listening, delivered: stats.delivered, reconnects: stats.reconnects } };
  };
}

export async function dashboardCommand(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(argv, dashboardArgOptions);
  if (values.help) {
    console.log(dashboardHelp);
    return exitCodes.ok;
  }
  const config = dashboardConfig(values);
  await checkDatabases(config);
  // Stats and recent rows only read: a replica serves them. The listener (LISTEN, catch-up) needs the primary.
  const connection = openDatabase(config.statsUrl, { poolSize: 4, applicationName: 'pgpulse-dashboard' });
  const listener = createListener({
    transport: parseTransport(values.transport, 'dashboard'),
    connectionString: config.url,
    listenConnectionString: config.listenUrl,
    channel: values.channel ?? DEFAULT_CHANNEL,
  });
  listener.on('disconnected', ({ error }) => console.error(`pgpulse dashboard: LISTEN connection lost (${error.message}); reconnecting`));
  listener.on('reconnected', ({ downMs }) => console.error(`pgpulse dashboard: bridge reconnected after ${downMs} ms`));
  // Metrics only where prom-client (an optional peer dependency) is installed.
  const metrics = loadPromClient() ? pgpulseMetrics() : undefined;
  const stopListenerMetrics = metrics ? observeListener(metrics, listener) : () => undefined;
  const stop = stopRequested();
  const servers: { metrics?: MetricsServer } = {};
  try {
    await listener.start();
    return await serveUntilStopped(config, connection.db, listener, metrics?.registry, stop.promise, servers);
  } finally {
    stop.dispose();
    await servers.metrics?.close();
    stopListenerMetrics();
    await listener.close();
    await connection.close();
  }
}

/**
 * Starts the dashboard server (and the metrics server, into `servers`), logs
 * where they are, and closes the dashboard server once `stopped` resolves.
 */
async function serveUntilStopped(
  config: DashboardConfig,
  db: Kysely<PulseDatabase>,
  listener: Listener,
  registry: MetricsRegistry | undefined,
  stopped: Promise<string>,
  servers: { metrics?: MetricsServer },
): Promise<number> {
  const { values, token, metricsPort } = config;
  const health = dashboardHealth(db, listener);
  const server = await startDashboardServer({
    db,
    pubsub: listener.pubsub,
    token,
    host: values.host,
    port: config.port,
    basePath: config.basePath,
    ownHosts: config.ownHosts,
    registry,
    health,
    traceUrl: config.traceUrl,
    public: values.public,
    trustProxy: config.trustProxy,
    secureCookies: values['secure-cookies'],
    tls: config.tls,
  }).catch((error: unknown) => {
    throw new CliError(errorMessage(error), exitCodes.failure, { cause: error });
  });
  if (metricsPort !== undefined && registry) {
    servers.metrics = await startMetricsServer({ registry, token, host: values.host, port: metricsPort, health }).catch(async (error: unknown) => {
      await server.close();
      throw new CliError(errorMessage(error), exitCodes.failure, { cause: error });
    });
    console.log(`pgpulse dashboard: metrics at ${servers.metrics.url}`);
  }
  server.dashboard.on('slowClientDropped', ({ bufferedBytes }) =>
    console.error(`pgpulse dashboard: dropped a browser that stopped reading (${bufferedBytes} bytes unsent); it will reconnect`),
  );
  server.dashboard.on('queryError', ({ error }) => console.error(`pgpulse dashboard: ${error.message}`));
  if (!token && !isLoopback(values.host ?? '127.0.0.1')) {
    console.error(
      values.public
        ? `pgpulse dashboard: warning: listening on ${values.host} with --public and no --token; anyone who can reach it sees your traffic`
        : `pgpulse dashboard: listening on ${values.host} without --token: only this machine is served (others get 403); set --token, or --public`,
    );
  }
  console.log(`pgpulse dashboard: ${server.url}${token ? ' (token required: the page asks for it once)' : ''}`);
  const reason = await stopped;
  console.error(`pgpulse dashboard: ${reason} received, stopping`);
  await server.close();
  return exitCodes.ok;
}
