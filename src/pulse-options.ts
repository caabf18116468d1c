import type { AttributeDropReason } from './capture/attributes.js';
import type { ConsumerDropReason } from './capture/consumer.js';
import type { CaptureOptions } from './capture/capture-options.js';
import type { RedactFailReason } from './capture/redact.js';
import type { AlertOptions, AlertStats } from './alerts/pulse-alerts.js';
import type { PulseLogger } from './events/logger.js';
import type { HttpMetricsOptions } from './metrics/http-metrics.js';
import type { MetricsRegistry } from './metrics/metrics-registry.js';
import type { PubSubStats } from './pubsub.js';
import type { ReleaseOptions } from './releases/release.js';
import type { ConnectionOptions } from './store/connection.js';
import type { WriterMode } from './writer/pulse-writer.js';
import type { WriterOptions } from './writer/writer.js';
import type { WriterStats } from './writer/writer-stats.js';

export interface PulseOptions extends ConnectionOptions, CaptureOptions, AlertOptions, ReleaseOptions, Omit<WriterOptions, 'nodeId' | 'copyPool'> {
  /** Identifies this process in rows and NOTIFY messages. Default `hostname:pid`. */
  nodeId?: string;
  /** A visitor's session ends after this long without a request. Default 1,800,000 ms (30 min). */
  sessionIdleMs?: number;
  /** Store captured requests in Postgres. Set false to only broadcast them locally. Default true. */
  store?: boolean;
  /**
   * Where the writer batches, serialises and aggregates rollups:
   * `'worker'` runs it in a `worker_threads` worker with its own pool (of
   * `poolSize` connections), off the app's event loop; `'in-process'` on the
   * app's event loop. Default `'worker'` with `connectionString`; with the
   * app's own `pool` or `db` always `'in-process'` (a pool cannot be shared
   * across threads; asking for `'worker'` then throws). When pgpulse runs
   * from its TypeScript source rather than the published `dist/` (its own
   * test suite), the default is `'in-process'`: a worker would have to load
   * tsx in its thread.
   */
  writerMode?: WriterMode;
  /**
   * Drop day partitions of `pgpulse.request_logs` older than this many days.
   * Default: keep everything.
   */
  retentionDays?: number;
  /**
   * How often this process creates partitions ahead and applies retention
   * (also once at start and after `migrate()`); 0 turns it off, e.g. when
   * `pgpulse maintain` runs from cron. Default 21,600,000 ms (6 h).
   */
  maintenanceIntervalMs?: number;
  /**
   * How often this process brings the request cube (the dashboard's read
   * model, see `catchUpCube`) up to date with the stored rows; 0 turns it
   * off (e.g. when `pgpulse maintain` runs from cron, or another
   * process does it: one process at a time builds, the others skip). Default
   * 60,000 ms.
   */
  cubeIntervalMs?: number;
  /**
   * prom-client registry pgpulse registers its metrics on, so an app that
   * already exposes prom-client metrics serves pgpulse's on its own endpoint.
   * Default: a private registry (read it with `pulse.metrics()`).
   */
  registry?: MetricsRegistry;
  /**
   * Request metrics in OpenTelemetry's semantic-convention shape, recorded in
   * the capture batch: the Prometheus histogram
   * `http_server_request_duration_seconds` (labels `http_request_method`,
   * `http_route`, `http_response_status_code`) on `registry`, and the
   * OpenTelemetry histogram `http.server.request.duration` (unit `s`) on the
   * global meter provider of `@opentelemetry/api`, each where its package is
   * installed. Labelled by route pattern, never by path. `true` for both
   * defaults, or {@link HttpMetricsOptions}. Default false.
   *
   * @example
   * ```ts
   * const pulse = createPulse({ connectionString, registry, httpMetrics: true });
   * ```
   */
  httpMetrics?: boolean | HttpMetricsOptions;
  /**
   * pino-compatible logger (`{ warn, error }`, `info` optional): every event of
   * the pulse is logged at its level. Default: nothing is logged.
   */
  logger?: PulseLogger;
  /**
   * `pulse.health()` reports the writer as not keeping up from this many rows
   * buffered or in flight. Default half of `maxBufferedRows` (50,000 rows).
   */
  healthMaxPendingRows?: number;
  /** Longest `pulse.health()` waits for Postgres to answer `select 1`. Default 2,000 ms. */
  healthTimeoutMs?: number;
  /**
   * `pulse.health()` (and `/healthz`, and the `pgpulse_writer_healthy` gauge)
   * reports the writer as stalled once rows have been pending this long with
   * no write committing: a read-only database, a missing permission, a lock,
   * an outage. Default 30,000 ms.
   */
  healthStalledAfterMs?: number;
}

export interface PulseStats {
  pubsub: PubSubStats;
  writer: WriterStats | undefined;
  /** Requests captured and broadcast. */
  captured: number;
  /** Requests the capture code failed to record (should stay 0). */
  captureFailures: number;
  /** Requests whose custom attributes (`attributes` option) were dropped, all or some, by reason. */
  attributesDropped: Record<AttributeDropReason, number>;
  /** Requests whose referer host was not a host name or IP literal (`=1+2a`, `cmd|'`): stored with `referer_host` null. */
  refererHostsRejected: number;
  /** Requests whose consumer (`consumer` option) was dropped, by reason. */
  consumersDropped: Record<ConsumerDropReason, number>;
  /** Errors not stored: unreadable, reported after their request was recorded, or for a request pgpulse does not track. */
  errorsDropped: number;
  /** Requests whose redaction failed, by reason: `redact.fn` or `redactErrorMessage` threw, or `redact.fn` returned what cannot be stored; the fields concerned were masked, never stored unredacted. */
  redactionsFailed: Record<RedactFailReason, number>;
  /** Errors from idle connections in the pool pgpulse opened (e.g. Postgres restarts). */
  poolErrors: number;
  /** Partition maintenance runs that failed (retried at the next interval). */
  maintenanceErrors: number;
  /** Alert evaluation and notification counters; null without `alerts`. */
  alerts: AlertStats | null;
}
