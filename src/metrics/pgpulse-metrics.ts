/**
 * pgpulse's Prometheus metrics, on prom-client (the ecosystem's standard).
 * Counters and gauges are read from the public `stats` of each source when the
 * registry is scraped (nothing is counted twice on the hot path); histograms
 * are fed by the sources' events (`flushed`, `query`). One set of metrics per
 * registry: several pulses, listeners or dashboards on the same registry add up.
 */
import type { Histogram } from 'prom-client';
import type { DropReason, WriterStats } from '../writer/writer.js';
import { attributeDropReasons, type AttributeDropReason } from '../capture/attributes.js';
import type { MetricsRegistry } from './metrics-registry.js';
import { asPromRegistry, promClient } from './prom-client.js';
import { consumerDropReasons, type ConsumerDropReason } from '../capture/consumer.js';
import { redactFailReasons, type RedactFailReason } from '../capture/redact.js';

/** What the metrics read from a Pulse: its stats, writer events and (when the bridge is on) NOTIFY queue usage. */
export interface PulseMetricsSource {
  stats(): {
    captured: number;
    captureFailures: number;
    attributesDropped: Record<AttributeDropReason, number>;
    refererHostsRejected: number;
    consumersDropped: Record<ConsumerDropReason, number>;
    errorsDropped: number;
    redactionsFailed: Record<RedactFailReason, number>;
    poolErrors: number;
    maintenanceErrors: number;
    writer: WriterStats | undefined;
  };
  /** Whether the writer keeps up and is not stalled (`pulse.health().writer.ok`); undefined with `store: false`. */
  writerHealthy?(): boolean | undefined;
  /** Calls `flushed` on each committed batch and `drop` on each drop; returns a function that stops. */
  watch(handlers: { flushed: (info: { rows: number; durationMs: number }) => void; drop: (info: { count: number; reason: DropReason }) => void }): () => void;
}

/** What the metrics read from a bridge Listener. */
export interface ListenerMetricsSource {
  readonly stats: { delivered: number; caughtUp: number; caughtUpPeriodic: number; reconnects: number; disconnects: number; malformed: number };
  /** Seconds between the end of the last delivered request and its delivery. */
  lagSeconds(): number | undefined;
}

/** What the metrics read from a dashboard. */
export interface DashboardMetricsSource {
  readonly stats: { clients: number; queryErrors: number; unauthorized: number };
  on(event: 'query', listener: (info: { what: string; durationMs: number }) => void): unknown;
  off(event: 'query', listener: (...args: never[]) => void): unknown;
}

const dropReasons: readonly DropReason[] = ['buffer_full', 'closed', 'close_timeout'];

/** Write latency buckets, seconds (1 ms to 10 s). */
const WRITE_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Batch size buckets, rows. */
const BATCH_ROWS = [1, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_000, 5_000, 10_000];
/** Stats query buckets, seconds (5 ms to 15 s). */
const QUERY_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15];

/** The pgpulse metrics registered on one prom-client registry. */
export class PgpulseMetrics {
  private readonly pulses = new Set<PulseMetricsSource>();
  private readonly listeners = new Set<ListenerMetricsSource>();
  private readonly dashboards = new Set<DashboardMetricsSource>();
  private readonly drops = new Set<Record<DropReason, number>>();
  private readonly writeSeconds: Histogram;
  private readonly batchRows: Histogram;
  private readonly querySeconds: Histogram;

  constructor(readonly registry: MetricsRegistry) {
    const registers = [asPromRegistry(registry)];
    const sum = <S>(sources: Set<S>, read: (source: S) => number | undefined) => {
      let total = 0;
      for (const source of sources) total += read(source) ?? 0;
      return total;
    };
    const counter = <S>(name: string, help: string, sources: Set<S>, read: (source: S) => number | undefined) =>
      new (promClient().Counter)({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(sum(sources, read));
        },
      });
    const gauge = <S>(name: string, help: string, sources: Set<S>, read: (source: S) => number | undefined) =>
      new (promClient().Gauge)({
        name,
        help,
        registers,
        collect() {
          this.set(sum(sources, read));
        },
      });
    const pulse = (source: PulseMetricsSource) => source.stats();

    counter('pgpulse_requests_captured_total', 'Requests captured and broadcast.', this.pulses, (s) => pulse(s).captured);
    counter('pgpulse_capture_failures_total', 'Requests that could not be recorded (captureError events).', this.pulses, (s) => pulse(s).captureFailures);
    counter(
      'pgpulse_referer_hosts_rejected_total',
      'Requests whose referer host was not a host name or IP literal, stored with referer_host null (refererHostRejected events).',
      this.pulses,
      (s) => pulse(s).refererHostsRejected,
    );
    counter('pgpulse_rows_written_total', 'Rows committed to Postgres.', this.pulses, (s) => pulse(s).writer?.written);
    counter('pgpulse_write_batches_total', 'Batches committed to Postgres.', this.pulses, (s) => pulse(s).writer?.batches);
    counter('pgpulse_rows_rejected_total', 'Rows Postgres refused as invalid (rejected events).', this.pulses, (s) => pulse(s).writer?.rejected);
    counter('pgpulse_write_retries_total', 'Failed write attempts that were retried (writeError events).', this.pulses, (s) => pulse(s).writer?.retries);
    counter('pgpulse_pool_errors_total', 'Errors of idle connections in the pool pgpulse opened (poolError events).', this.pulses, (s) => pulse(s).poolErrors);
    counter(
      'pgpulse_maintenance_errors_total',
      'Partition maintenance runs that failed (maintenanceError events).',
      this.pulses,
      (s) => pulse(s).maintenanceErrors,
    );
    gauge(
      'pgpulse_buffer_rows',
      'Rows not committed yet (queued for the writer worker, in it, in flight); 0 when idle.',
      this.pulses,
      (s) => pulse(s).writer?.pending,
    );
    gauge(
      'pgpulse_writer_healthy',
      'Writers keeping up (1 each): fewer than healthMaxPendingRows pending and no rows pending for healthStalledAfterMs without a commit. 0 when stalled.',
      this.pulses,
      (s) => (s.writerHealthy?.() === false ? 0 : s.writerHealthy?.() === true ? 1 : undefined),
    );
    gauge(
      'pgpulse_write_stalled_seconds',
      'How long rows have been pending with no write committing (0 when nothing is pending), summed over the pulses on the registry.',
      this.pulses,
      (s) => {
        const stats = pulse(s).writer;
        return stats && stats.pending > 0 && stats.waitingSince > 0 ? (Date.now() - stats.waitingSince) / 1000 : 0;
      },
    );
    /** A counter with a `reason` label, one sample per reason, summed over `sources`. */
    const byReason = <S, R extends string>(name: string, help: string, reasons: readonly R[], sources: Set<S>, read: (source: S, reason: R) => number) =>
      new (promClient().Counter)({
        name,
        help,
        labelNames: ['reason'],
        registers,
        collect() {
          this.reset();
          for (const reason of reasons)
            this.inc(
              { reason },
              sum(sources, (source) => read(source, reason)),
            );
        },
      });
    byReason('pgpulse_rows_dropped_total', 'Rows dropped, by reason (drop events).', dropReasons, this.drops, (counts, reason) => counts[reason]);
    byReason(
      'pgpulse_attributes_dropped_total',
      'Requests whose custom attributes were dropped, all or some, by reason (attributesDropped events).',
      attributeDropReasons,
      this.pulses,
      (s, reason) => pulse(s).attributesDropped[reason],
    );
    byReason(
      'pgpulse_consumers_dropped_total',
      'Requests whose consumer (consumer option) was dropped, by reason (consumerDropped events).',
      consumerDropReasons,
      this.pulses,
      (s, reason) => pulse(s).consumersDropped[reason],
    );
    byReason(
      'pgpulse_redactions_failed_total',
      'Requests whose redaction failed (redact.fn or redactErrorMessage threw, or returned what cannot be stored; the fields were masked), by reason (redactionFailed events).',
      redactFailReasons,
      this.pulses,
      (s, reason) => pulse(s).redactionsFailed[reason],
    );
    counter(
      'pgpulse_error_groups_new_total',
      'Error groups (fingerprints) first stored by this process (errorGroupNew events).',
      this.pulses,
      (s) => pulse(s).writer?.errorGroupsNew,
    );
    counter('pgpulse_errors_dropped_total', 'Request errors not stored (errorDropped events).', this.pulses, (s) => pulse(s).errorsDropped);
    this.writeSeconds = new (promClient().Histogram)({
      name: 'pgpulse_write_duration_seconds',
      help: 'Time to commit one batch.',
      buckets: WRITE_SECONDS,
      registers,
    });
    this.batchRows = new (promClient().Histogram)({ name: 'pgpulse_write_batch_rows', help: 'Rows per committed batch.', buckets: BATCH_ROWS, registers });

    counter('pgpulse_notifications_sent_total', 'NOTIFY bridge messages sent.', this.pulses, (s) => pulse(s).writer?.notifications);
    counter(
      'pgpulse_notifications_skipped_total',
      'Batches committed without a NOTIFY because notifications were paused.',
      this.pulses,
      (s) => pulse(s).writer?.notificationsSkipped,
    );
    counter(
      'pgpulse_notifications_failed_total',
      'NOTIFY statements that failed (the rows are committed; listeners catch up).',
      this.pulses,
      (s) => pulse(s).writer?.notificationsFailed,
    );
    const pulses = this.pulses;
    new (promClient().Gauge)({
      name: 'pgpulse_notify_queue_usage_ratio',
      help: 'Fraction (0-1) of the cluster-wide NOTIFY queue in use, as last seen by the bridge (highest of the pulses).',
      registers,
      collect() {
        let usage = 0;
        for (const source of pulses) usage = Math.max(usage, pulse(source).writer?.notifyQueueUsage ?? 0);
        this.set(usage);
      },
    });

    counter('pgpulse_listener_delivered_total', 'Rows the bridge listener delivered.', this.listeners, (s) => s.stats.delivered);
    counter(
      'pgpulse_listener_caught_up_total',
      'Rows delivered by catch-up (without their notification), after a reconnect or periodic.',
      this.listeners,
      (s) => s.stats.caughtUp,
    );
    counter(
      'pgpulse_listener_caught_up_periodic_total',
      'The part of caught-up rows found by the periodic (heartbeat) catch-up.',
      this.listeners,
      (s) => s.stats.caughtUpPeriodic,
    );
    counter('pgpulse_listener_reconnects_total', 'Times the LISTEN connection was re-established.', this.listeners, (s) => s.stats.reconnects);
    counter('pgpulse_listener_disconnects_total', 'Times the LISTEN connection was lost.', this.listeners, (s) => s.stats.disconnects);
    counter(
      'pgpulse_listener_malformed_total',
      'Payloads on the channel that were not pgpulse messages, and WAL messages or rows the wal transport could not decode.',
      this.listeners,
      (s) => s.stats.malformed,
    );
    const listeners = this.listeners;
    new (promClient().Gauge)({
      name: 'pgpulse_listener_lag_seconds',
      help: 'Seconds between the end of the last delivered request and its delivery by the listener (highest of the listeners).',
      registers,
      collect() {
        let lag = 0;
        for (const source of listeners) lag = Math.max(lag, source.lagSeconds() ?? 0);
        this.set(lag);
      },
    });

    gauge('pgpulse_dashboard_sse_clients', 'Browsers connected to the live stream.', this.dashboards, (s) => s.stats.clients);
    counter('pgpulse_dashboard_stats_query_errors_total', 'Dashboard stats or recent-rows queries that failed.', this.dashboards, (s) => s.stats.queryErrors);
    counter('pgpulse_dashboard_unauthorized_total', 'Dashboard requests refused for a missing or wrong token.', this.dashboards, (s) => s.stats.unauthorized);
    this.querySeconds = new (promClient().Histogram)({
      name: 'pgpulse_dashboard_stats_query_duration_seconds',
      help: 'Time to answer one dashboard stats query (GET /api/stats).',
      buckets: QUERY_SECONDS,
      registers,
    });
  }

  /** Adds a pulse; returns a function that removes it (its counters leave the sums). */
  addPulse(source: PulseMetricsSource): () => void {
    const counts: Record<DropReason, number> = { buffer_full: 0, closed: 0, close_timeout: 0, worker_failed: 0 };
    const stop = source.watch({
      drop: (info) => (counts[info.reason] += info.count),
      flushed: (info) => {
        this.writeSeconds.observe(info.durationMs / 1_000);
        this.batchRows.observe(info.rows);
      },
    });
    this.pulses.add(source);
    this.drops.add(counts);
    return () => {
      stop();
      this.pulses.delete(source);
      this.drops.delete(counts);
    };
  }

  /** Adds a bridge listener; returns a function that removes it. */
  addListener(source: ListenerMetricsSource): () => void {
    this.listeners.add(source);
    return () => void this.listeners.delete(source);
  }

  /** Adds a dashboard; returns a function that removes it. */
  addDashboard(source: DashboardMetricsSource): () => void {
    const onQuery = (info: { what: string; durationMs: number }) => {
      if (info.what === 'stats') this.querySeconds.observe(info.durationMs / 1_000);
    };
    source.on('query', onQuery);
    this.dashboards.add(source);
    return () => {
      source.off('query', onQuery);
      this.dashboards.delete(source);
    };
  }
}

const byRegistry = new WeakMap<MetricsRegistry, PgpulseMetrics>();

/**
 * The pgpulse metrics of `registry` (created and registered on first use), or
 * of a new private registry when none is given.
 */
export function pgpulseMetrics(registry: MetricsRegistry = new (promClient().Registry)()): PgpulseMetrics {
  let metrics = byRegistry.get(registry);
  if (!metrics) {
    metrics = new PgpulseMetrics(registry);
    byRegistry.set(registry, metrics);
  }
  return metrics;
}
