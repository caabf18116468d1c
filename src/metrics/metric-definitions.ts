/**
 * The table of pgpulse's Prometheus metrics: name, help, type, labels and
 * what each reads when the registry is scraped, in registration (exposition)
 * order. `PgpulseMetrics` registers them in one loop.
 */
import { attributeDropReasons } from '../capture/attributes.js';
import { consumerDropReasons } from '../capture/consumer.js';
import { redactFailReasons } from '../capture/redact.js';
import type { DropReason } from '../writer/writer-events.js';
import type { DashboardMetricsSource, ListenerMetricsSource, PulseMetricsSource } from './metric-sources.js';

/** The sources registered on one registry, which the metrics sum (or take the highest of). */
export interface MetricSources {
  pulses: ReadonlySet<PulseMetricsSource>;
  listeners: ReadonlySet<ListenerMetricsSource>;
  dashboards: ReadonlySet<DashboardMetricsSource>;
  /** Rows dropped by each pulse, by reason (counted from its `drop` events). */
  drops: ReadonlySet<Record<DropReason, number>>;
}

/** The histograms, fed by the sources' events rather than read at scrape time. */
export type HistogramKey = 'writeSeconds' | 'batchRows' | 'querySeconds';

/** One metric: a counter or gauge read at scrape time (with a `reason` label or none), or a histogram fed by events. */
export type MetricDefinition =
  | { type: 'counter' | 'gauge'; name: string; help: string; value: (sources: MetricSources) => number }
  | {
      type: 'counter';
      name: string;
      help: string;
      labels: readonly ['reason'];
      reasons: readonly string[];
      value: (sources: MetricSources, reason: string) => number;
    }
  | { type: 'histogram'; name: string; help: string; buckets: readonly number[]; histogram: HistogramKey };

/** Write latency buckets, seconds (1 ms to 10 s). */
const WRITE_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Batch size buckets, rows. */
const BATCH_ROWS = [1, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_000, 5_000, 10_000];
/** Stats query buckets, seconds (5 ms to 15 s). */
const QUERY_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15];

const dropReasons: readonly DropReason[] = ['buffer_full', 'closed', 'close_timeout'];

function sum<S>(sources: ReadonlySet<S>, read: (source: S) => number | undefined): number {
  let total = 0;
  for (const source of sources) total += read(source) ?? 0;
  return total;
}

function max<S>(sources: ReadonlySet<S>, read: (source: S) => number | undefined): number {
  let highest = 0;
  for (const source of sources) highest = Math.max(highest, read(source) ?? 0);
  return highest;
}

type PulseStatsView = ReturnType<PulseMetricsSource['stats']>;
type ListenerStatsView = ListenerMetricsSource['stats'];

/** Sum over the pulses of what `read` takes from each one's stats. */
const pulseTotal =
  (read: (stats: PulseStatsView) => number | undefined) =>
  (sources: MetricSources): number =>
    sum(sources.pulses, (source) => read(source.stats()));
const listenerTotal =
  (read: (stats: ListenerStatsView) => number) =>
  (sources: MetricSources): number =>
    sum(sources.listeners, (source) => read(source.stats));
const dashboardTotal =
  (read: (stats: DashboardMetricsSource['stats']) => number) =>
  (sources: MetricSources): number =>
    sum(sources.dashboards, (source) => read(source.stats));

/** A `reason` label with one sample per reason of `reasons`. */
function byReason<R extends string>(
  reasons: readonly R[],
  value: (sources: MetricSources, reason: R) => number,
): { labels: readonly ['reason']; reasons: readonly string[]; value: (sources: MetricSources, reason: string) => number } {
  return { labels: ['reason'], reasons, value: value as (sources: MetricSources, reason: string) => number };
}

/** Every pgpulse metric, in registration order. */
export const metricDefinitions: readonly MetricDefinition[] = [
  { type: 'counter', name: 'pgpulse_requests_captured_total', help: 'Requests captured and broadcast.', value: pulseTotal((s) => s.captured) },
  {
    type: 'counter',
    name: 'pgpulse_capture_failures_total',
    help: 'Requests that could not be recorded (captureError events).',
    value: pulseTotal((s) => s.captureFailures),
  },
  {
    type: 'counter',
    name: 'pgpulse_referer_hosts_rejected_total',
    help: 'Requests whose referer host was not a host name or IP literal, stored with referer_host null (refererHostRejected events).',
    value: pulseTotal((s) => s.refererHostsRejected),
  },
  { type: 'counter', name: 'pgpulse_rows_written_total', help: 'Rows committed to Postgres.', value: pulseTotal((s) => s.writer?.written) },
  { type: 'counter', name: 'pgpulse_write_batches_total', help: 'Batches committed to Postgres.', value: pulseTotal((s) => s.writer?.batches) },
  {
    type: 'counter',
    name: 'pgpulse_rows_rejected_total',
    help: 'Rows Postgres refused as invalid (rejected events).',
    value: pulseTotal((s) => s.writer?.rejected),
  },
  {
    type: 'counter',
    name: 'pgpulse_write_retries_total',
    help: 'Failed write attempts that were retried (writeError events).',
    value: pulseTotal((s) => s.writer?.retries),
  },
  {
    type: 'counter',
    name: 'pgpulse_pool_errors_total',
    help: 'Errors of idle connections in the pool pgpulse opened (poolError events).',
    value: pulseTotal((s) => s.poolErrors),
  },
  {
    type: 'counter',
    name: 'pgpulse_maintenance_errors_total',
    help: 'Partition maintenance runs that failed (maintenanceError events).',
    value: pulseTotal((s) => s.maintenanceErrors),
  },
  {
    type: 'gauge',
    name: 'pgpulse_buffer_rows',
    help: 'Rows not committed yet (queued for the writer worker, in it, in flight); 0 when idle.',
    value: pulseTotal((s) => s.writer?.pending),
  },
  {
    type: 'gauge',
    name: 'pgpulse_writer_healthy',
    help: 'Writers keeping up (1 each): fewer than healthMaxPendingRows pending and no rows pending for healthStalledAfterMs without a commit. 0 when stalled.',
    value: (sources) => sum(sources.pulses, (s) => (s.writerHealthy?.() === false ? 0 : s.writerHealthy?.() === true ? 1 : undefined)),
  },
  {
    type: 'gauge',
    name: 'pgpulse_write_stalled_seconds',
    help: 'How long rows have been pending with no write committing (0 when nothing is pending), summed over the pulses on the registry.',
    value: pulseTotal(({ writer }) => (writer && writer.pending > 0 && writer.waitingSince > 0 ? (Date.now() - writer.waitingSince) / 1000 : 0)),
  },
  {
    type: 'counter',
    name: 'pgpulse_rows_dropped_total',
    help: 'Rows dropped, by reason (drop events).',
    ...byReason(dropReasons, (sources, reason) => sum(sources.drops, (counts) => counts[reason])),
  },
  {
    type: 'counter',
    name: 'pgpulse_attributes_dropped_total',
    help: 'Requests whose custom attributes were dropped, all or some, by reason (attributesDropped events).',
    ...byReason(attributeDropReasons, (sources, reason) => pulseTotal((s) => s.attributesDropped[reason])(sources)),
  },
  {
    type: 'counter',
    name: 'pgpulse_consumers_dropped_total',
    help: 'Requests whose consumer (consumer option) was dropped, by reason (consumerDropped events).',
    ...byReason(consumerDropReasons, (sources, reason) => pulseTotal((s) => s.consumersDropped[reason])(sources)),
  },
  {
    type: 'counter',
    name: 'pgpulse_redactions_failed_total',
    help: 'Requests whose redaction failed (redact.fn or redactErrorMessage threw, or returned what cannot be stored; the fields were masked), by reason (redactionFailed events).',
    ...byReason(redactFailReasons, (sources, reason) => pulseTotal((s) => s.redactionsFailed[reason])(sources)),
  },
  {
    type: 'counter',
    name: 'pgpulse_error_groups_new_total',
    help: 'Error groups (fingerprints) first stored by this process (errorGroupNew events).',
    value: pulseTotal((s) => s.writer?.errorGroupsNew),
  },
  {
    type: 'counter',
    name: 'pgpulse_errors_dropped_total',
    help: 'Request errors not stored (errorDropped events).',
    value: pulseTotal((s) => s.errorsDropped),
  },
  { type: 'histogram', name: 'pgpulse_write_duration_seconds', help: 'Time to commit one batch.', buckets: WRITE_SECONDS, histogram: 'writeSeconds' },
  { type: 'histogram', name: 'pgpulse_write_batch_rows', help: 'Rows per committed batch.', buckets: BATCH_ROWS, histogram: 'batchRows' },
  { type: 'counter', name: 'pgpulse_notifications_sent_total', help: 'NOTIFY bridge messages sent.', value: pulseTotal((s) => s.writer?.notifications) },
  {
    type: 'counter',
    name: 'pgpulse_notifications_skipped_total',
    help: 'Batches committed without a NOTIFY because notifications were paused.',
    value: pulseTotal((s) => s.writer?.notificationsSkipped),
  },
  {
    type: 'counter',
    name: 'pgpulse_notifications_failed_total',
    help: 'NOTIFY statements that failed (the rows are committed; listeners catch up).',
    value: pulseTotal((s) => s.writer?.notificationsFailed),
  },
  {
    type: 'gauge',
    name: 'pgpulse_notify_queue_usage_ratio',
    help: 'Fraction (0-1) of the cluster-wide NOTIFY queue in use, as last seen by the bridge (highest of the pulses).',
    value: (sources) => max(sources.pulses, (s) => s.stats().writer?.notifyQueueUsage),
  },
  { type: 'counter', name: 'pgpulse_listener_delivered_total', help: 'Rows the bridge listener delivered.', value: listenerTotal((s) => s.delivered) },
  {
    type: 'counter',
    name: 'pgpulse_listener_caught_up_total',
    help: 'Rows delivered by catch-up (without their notification), after a reconnect or periodic.',
    value: listenerTotal((s) => s.caughtUp),
  },
  {
    type: 'counter',
    name: 'pgpulse_listener_caught_up_periodic_total',
    help: 'The part of caught-up rows found by the periodic (heartbeat) catch-up.',
    value: listenerTotal((s) => s.caughtUpPeriodic),
  },
  {
    type: 'counter',
    name: 'pgpulse_listener_reconnects_total',
    help: 'Times the LISTEN connection was re-established.',
    value: listenerTotal((s) => s.reconnects),
  },
  { type: 'counter', name: 'pgpulse_listener_disconnects_total', help: 'Times the LISTEN connection was lost.', value: listenerTotal((s) => s.disconnects) },
  {
    type: 'counter',
    name: 'pgpulse_listener_malformed_total',
    help: 'Payloads on the channel that were not pgpulse messages, and WAL messages or rows the wal transport could not decode.',
    value: listenerTotal((s) => s.malformed),
  },
  {
    type: 'gauge',
    name: 'pgpulse_listener_lag_seconds',
    help: 'Seconds between the end of the last delivered request and its delivery by the listener (highest of the listeners).',
    value: (sources) => max(sources.listeners, (s) => s.lagSeconds()),
  },
  { type: 'gauge', name: 'pgpulse_dashboard_sse_clients', help: 'Browsers connected to the live stream.', value: dashboardTotal((s) => s.clients) },
  {
    type: 'counter',
    name: 'pgpulse_dashboard_stats_query_errors_total',
    help: 'Dashboard stats or recent-rows queries that failed.',
    value: dashboardTotal((s) => s.queryErrors),
  },
  {
    type: 'counter',
    name: 'pgpulse_dashboard_unauthorized_total',
    help: 'Dashboard requests refused for a missing or wrong token.',
    value: dashboardTotal((s) => s.unauthorized),
  },
  {
    type: 'histogram',
    name: 'pgpulse_dashboard_stats_query_duration_seconds',
    help: 'Time to answer one dashboard stats query (GET /api/stats).',
    buckets: QUERY_SECONDS,
    histogram: 'querySeconds',
  },
];
