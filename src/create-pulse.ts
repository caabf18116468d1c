import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CapturedRequest } from './capture/captured-request.js';
import type { IgnoreRequest } from './capture/ignore.js';
import type { Kysely } from 'kysely';
import type { MetricsRegistry } from './metrics/metrics-registry.js';
import { Recorder, type CaptureOptions } from './capture/recorder.js';
import { attachError, createNodeMiddleware, trackResponse, type FrameworkReader, type NodeMiddleware } from './capture/node-middleware.js';
import type { ConsumerDropReason } from './capture/consumer.js';
import { errorTargetOf, serveFailedHandler, type CaptureErrorOptions, type ErrorSource } from './capture/error-target.js';
import { Sessions } from './capture/sessions.js';
import type { AttributeDropReason } from './capture/attributes.js';
import type { RedactFailReason } from './capture/redact.js';
import { positiveOption } from './shared/number-options.js';
import { VisitorIds } from './capture/visitor-ids.js';
import { connect, type Connection, type ConnectionOptions } from './store/connection.js';
import type { PulseDatabase } from './store/database.js';
import { migrate, type MigrationResult } from './store/migrate.js';
import { defaultNodeId } from './node-id.js';
import { PubSub, type PubSubStats } from './pubsub.js';
import { isLockTimeout, maintainPartitions, type PartitionMaintenanceResult } from './store/maintain-partitions.js';
import { catchUpCube, type CubeCatchUpResult } from './store/cube-catch-up.js';
import type { PulseWriter, WriterMode } from './writer/pulse-writer.js';
import { hasCompiledWriterWorker, WorkerWriter } from './writer/worker-writer.js';
import { Writer, writerLimits, type WriterEvents, type WriterOptions, type WriterStats } from './writer/writer.js';
import { closeOnSignals, type CloseOnSignalsOptions } from './shutdown/close-on-signals.js';
import { logPulseEvents } from './events/log-pulse-events.js';
import type { PulseLogger } from './events/logger.js';
import type { PulseEvents } from './events/pulse-events.js';
import { checkPostgres } from './health/check-postgres.js';
import type { PulseHealth, WriterHealth } from './health/pulse-health.js';
import { writerHealth, type LastWriteError } from './health/writer-health.js';
import { pgpulseMetrics, type PgpulseMetrics } from './metrics/pgpulse-metrics.js';
import { loadPromClient, PROM_CLIENT_MISSING } from './metrics/prom-client.js';
import { PulseAlerts, type AlertOptions, type AlertStats } from './alerts/pulse-alerts.js';
import { alertMetrics } from './metrics/alert-metrics.js';
import { recordRelease, resolveRelease, type ReleaseOptions } from './releases/release.js';
import { HttpMetrics, type HttpMetricsOptions } from './metrics/http-metrics.js';

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

/** Events the writer emits, forwarded on the Pulse. */
const writerEvents = [
  'flushed',
  'writeError',
  'recovered',
  'drop',
  'rejected',
  'notifyFailed',
  'notifyPaused',
  'notifySkipped',
  'stepError',
  'errorGroupNew',
] as const satisfies readonly (keyof WriterEvents)[];

/**
 * The pgpulse instance of one app process: capture middleware, local PubSub and
 * batched Postgres writer. Emits {@link PulseEvents} for every degraded mode.
 */
export class Pulse extends EventEmitter<PulseEvents> implements AsyncDisposable {
  /** Local, in-process broadcast of captured requests. */
  readonly pubsub = new PubSub();
  /** Batched writer (undefined when `store: false`); `writer.mode` says where it runs. */
  readonly writer: PulseWriter | undefined;
  /** Kysely instance pgpulse uses (the app's own when attached). */
  readonly db: Kysely<PulseDatabase>;
  readonly nodeId: string;
  /** The release this process runs (`release` option or its environment variables), null for none. */
  readonly release: string | null;
  /** Alert rules, states and evaluation of this process (undefined without `alerts` or with `store: false`). */
  readonly alerts: PulseAlerts | undefined;
  /** @internal adapters use the public capture API: {@link Pulse.track}, {@link Pulse.record}, {@link Pulse.ignores} */
  readonly recorder: Recorder;
  private readonly connection: Connection;
  private readonly visitorIds: VisitorIds;
  private readonly closeTimeoutMs: number;
  private closing: Promise<void> | undefined;
  private poolErrors = 0;
  private maintenanceErrors = 0;
  private readonly maintenanceTimer: NodeJS.Timeout | undefined;
  private readonly maintenanceStart: NodeJS.Timeout | undefined;
  private readonly cubeTimer: NodeJS.Timeout | undefined;
  private readonly cubeAbort = new AbortController();
  private cubeRun: Promise<unknown> | undefined;
  private readonly retentionDays: number | undefined;
  /** Undefined when prom-client (an optional peer dependency) is not installed and no registry was passed. */
  private readonly pgpulseMetrics: PgpulseMetrics | undefined;
  private readonly removeMetrics: () => void;
  private readonly healthMaxPendingRows: number;
  private readonly healthTimeoutMs: number;
  private readonly healthStalledAfterMs: number;
  private lastWriteAt: Date | null = null;
  private lastWriteError: LastWriteError | null = null;
  private closeAlertMetrics: () => void = () => undefined;

  constructor(options: PulseOptions) {
    super();
    this.nodeId = options.nodeId ?? defaultNodeId();
    this.release = resolveRelease(options.release);
    // Metrics options are checked before anything connects: a throwing constructor leaves nothing open.
    this.pgpulseMetrics = options.registry || loadPromClient() ? pgpulseMetrics(options.registry) : undefined;
    const httpMetrics = options.httpMetrics
      ? new HttpMetrics(options.httpMetrics === true ? {} : options.httpMetrics, this.pgpulseMetrics?.registry)
      : undefined;
    this.connection = connect(options, (error) => {
      this.poolErrors++;
      this.emitSafely('poolError', { error: new Error(`pgpulse pool: an idle connection failed: ${error.message}`, { cause: error }) });
    });
    this.db = this.connection.db;
    this.visitorIds = new VisitorIds(this.db);
    this.recorder = new Recorder(this.pubsub, this.visitorIds, new Sessions(options.sessionIdleMs), this.nodeId, options);
    this.recorder.onFailure = (error) => this.emitSafely('captureError', { error });
    if (httpMetrics) this.recorder.onCaptured = (log) => httpMetrics.observe(log);
    this.recorder.onAttributesDropped = (info) => this.emitSafely('attributesDropped', info);
    this.recorder.onRefererHostRejected = (info) => this.emitSafely('refererHostRejected', info);
    this.recorder.onConsumerDropped = (info) => this.emitSafely('consumerDropped', info);
    this.recorder.onErrorDropped = (info) => this.emitSafely('errorDropped', info);
    this.recorder.onRedactionFailed = (info) => this.emitSafely('redactionFailed', info);
    if (options.logger) logPulseEvents(this, options.logger);
    this.healthMaxPendingRows = positiveOption(
      'pgpulse',
      'healthMaxPendingRows',
      options.healthMaxPendingRows ?? Math.ceil((options.maxBufferedRows ?? 100_000) / 2),
    );
    this.healthTimeoutMs = positiveOption('pgpulse', 'healthTimeoutMs', options.healthTimeoutMs ?? 2_000);
    this.healthStalledAfterMs = positiveOption('pgpulse', 'healthStalledAfterMs', options.healthStalledAfterMs ?? 30_000);
    this.closeTimeoutMs = writerLimits(options).closeTimeoutMs;
    if (options.store !== false) {
      const writer = this.createWriter(options);
      this.writer = writer;
      writer.on('flushed', () => (this.lastWriteAt = new Date()));
      writer.on('writeError', ({ error }) => (this.lastWriteError = { message: error.message, at: new Date() }));
      for (const name of writerEvents) writer.on(name, ((info: never) => this.emitSafely(name, info)) as never);
      // Never unsubscribed: rows captured after close() are counted by the closed writer (drop, reason `closed`).
      this.pubsub.subscribe((message) => writer.add(message.event), {
        name: 'pgpulse-writer',
        maxQueue: Number.MAX_SAFE_INTEGER,
      });
    }
    void this.visitorIds.load();
    this.removeMetrics =
      this.pgpulseMetrics?.addPulse({
        stats: () => this.stats,
        writerHealthy: () => this.writerHealth()?.ok,
        watch: ({ flushed, drop }) => {
          this.on('flushed', flushed);
          this.on('drop', drop);
          return () => {
            this.off('flushed', flushed);
            this.off('drop', drop);
          };
        },
      }) ?? (() => undefined);
    this.retentionDays = options.retentionDays;
    const intervalMs = options.maintenanceIntervalMs ?? 6 * 3_600_000;
    if (options.store !== false && intervalMs > 0) {
      // First run shortly after start (the app may still be migrating), then every interval.
      this.maintenanceStart = setTimeout(() => void this.maintain().catch(() => undefined), 10_000);
      this.maintenanceStart.unref();
      this.maintenanceTimer = setInterval(() => void this.maintain().catch(() => undefined), intervalMs);
      this.maintenanceTimer.unref();
    }
    if (options.store !== false && (options.alerts?.length ?? 0) > 0) this.alerts = this.startAlerts(options);
    // Before migrate() the table may not exist yet: migrate() records it again.
    if (options.store !== false) void this.recordRelease().catch(() => undefined);
    const cubeIntervalMs = options.cubeIntervalMs ?? 60_000;
    if (!Number.isInteger(cubeIntervalMs) || cubeIntervalMs < 0)
      throw new RangeError(`pgpulse: cubeIntervalMs must be a whole number of ms ≥ 0, got ${cubeIntervalMs}`);
    if (options.store !== false && cubeIntervalMs > 0) {
      this.cubeTimer = setInterval(() => void this.catchUpCube().catch(() => undefined), cubeIntervalMs);
      this.cubeTimer.unref();
    }
  }

  private startAlerts(options: PulseOptions): PulseAlerts {
    const alerts = new PulseAlerts(this.db, this.nodeId, options, {
      onEvent: (event) => this.emitSafely('alert', event),
      onNotifyFailed: (failure) => this.emitSafely('alertNotifyFailed', failure),
      onError: (error) => this.emitSafely('alertError', { error }),
    });
    const removeMetrics = this.pgpulseMetrics ? alertMetrics(this.pgpulseMetrics.registry).add(alerts) : () => undefined;
    this.closeAlertMetrics = removeMetrics;
    alerts.start();
    return alerts;
  }

  private createWriter(options: PulseOptions): PulseWriter {
    const attached = options.pool !== undefined || options.db !== undefined;
    // From pgpulse's TypeScript source (its own tests) a worker needs tsx in its thread: only when asked for.
    const mode = options.writerMode ?? (attached || !hasCompiledWriterWorker() ? 'in-process' : 'worker');
    // Checked at runtime too: JavaScript callers get no type check.
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- JavaScript callers
    if (mode !== 'worker' && mode !== 'in-process') throw new Error(`pgpulse: writerMode must be 'worker' or 'in-process', got ${String(mode)}`);
    const inProcess = () => new Writer(this.db, { ...options, nodeId: this.nodeId, copyPool: this.connection.pool });
    if (mode === 'in-process') return inProcess();
    if (attached || !options.connectionString) {
      throw new Error(
        "pgpulse: writerMode 'worker' needs connectionString; the app's own pool or db cannot be shared with a worker thread (use writerMode 'in-process')",
      );
    }
    return new WorkerWriter({
      ...pickWriterOptions(options),
      nodeId: this.nodeId,
      connectionString: options.connectionString,
      poolSize: options.poolSize,
      fallback: inProcess,
      onPoolError: () => this.poolErrors++,
    });
  }

  /**
   * Creates the day partitions ahead of time and applies `retentionDays`.
   * Runs by itself every `maintenanceIntervalMs`; failures are counted in
   * `stats.maintenanceErrors` and retried at the next interval.
   */
  async maintain(): Promise<PartitionMaintenanceResult> {
    try {
      return await maintainPartitions(this.db, { retentionDays: this.retentionDays });
    } catch (error) {
      this.maintenanceErrors++;
      const wrapped = new Error(`pgpulse partition maintenance failed: ${(error as Error).message}`, { cause: error });
      this.emitSafely('maintenanceError', { error: wrapped });
      throw wrapped;
    }
  }

  /**
   * Brings the request cube up to date with the stored rows (hours not built
   * yet, late rows, rows of nodes that do not know the cube), a week of hours
   * at most per call. Runs by itself every `cubeIntervalMs`; failures are
   * counted in `stats.maintenanceErrors` (event `maintenanceError`) and retried
   * at the next interval. The dashboard stays exact without it (it reads raw
   * rows for what the cube lacks), only slower.
   */
  async catchUpCube(): Promise<CubeCatchUpResult> {
    if (this.cubeRun) await this.cubeRun.catch(() => undefined);
    const run = catchUpCube(this.db, { signal: this.cubeAbort.signal, onBatch: (batch) => this.emitSafely('backfillProgress', batch) });
    this.cubeRun = run;
    try {
      return await run;
    } catch (error) {
      this.maintenanceErrors++;
      const wrapped = new Error(`pgpulse cube catch-up failed: ${(error as Error).message}`, { cause: error });
      this.emitSafely('maintenanceError', { error: wrapped });
      throw wrapped;
    } finally {
      if (this.cubeRun === run) this.cubeRun = undefined;
    }
  }

  /** Records {@link release} for this node in `pgpulse.releases` (once; later calls keep the first time). */
  private async recordRelease(): Promise<void> {
    if (this.release !== null && this.writer) await recordRelease(this.db, this.release, this.nodeId);
  }

  /** Applies pending SQL migrations (idempotent, safe from several nodes at once). */
  async migrate(): Promise<MigrationResult> {
    const result = await migrate(this.db);
    // The salt table exists now: load today's salt before the first request is hashed.
    await this.visitorIds.load();
    await this.recordRelease();
    // The alert tables exist now: evaluate (or take part in the election) without waiting for the first interval.
    void this.alerts?.evaluate();
    // A partition waiting behind a long reader must not fail the app's start-up:
    // it is retried at the next maintenance (counted in stats.maintenanceErrors).
    if (this.writer)
      await this.maintain().catch((error: unknown) => {
        if (!isLockTimeout(error)) throw error;
      });
    return result;
  }

  /**
   * Capture middleware for Express/Connect (`app.use(pulse.middleware())`) or
   * bare node:http (`middleware(req, res)` at the top of the handler).
   */
  middleware(): NodeMiddleware {
    return createNodeMiddleware(this.recorder, (error) => this.recorder.fail(error));
  }

  /**
   * Captures one request served through node:http objects (what the built-in
   * middleware and the Fastify and Hono adapters call when the request
   * arrives): counts the body bytes written to `res` and records the request
   * when `res` closes (499 when the client went away first). `reader` tells
   * pgpulse how to read the framework's route, request id and client address
   * from `source` (default: Express/Connect, from `req`). Call at most once per
   * response; a second call is ignored. Never throws.
   */
  track<Source>(req: IncomingMessage, res: ServerResponse, reader?: FrameworkReader<Source>, source?: Source, remoteAddress?: string): void {
    try {
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- request-like objects of test harnesses may carry no socket
      trackResponse(this.recorder, req, res, reader, source, remoteAddress ?? req.socket?.remoteAddress);
    } catch (error) {
      this.recorder.fail(error);
    }
  }

  /**
   * Whether the `ignore` rules (with the defaults unless `ignoreDefaults: false`)
   * exclude a request (applied to every recorded request in the capture batch;
   * adapters need not call it). Never throws (a throwing rule counts in
   * `stats.captureFailures` and the request is recorded).
   */
  ignores(request: IgnoreRequest): boolean {
    return this.recorder.ignores(request);
  }

  /**
   * Records a finished request of any framework: queues it; the next capture
   * batch applies the `ignore` rules, derives its RequestLog (visitor, session,
   * device, …) and broadcasts it to subscribers and the writer. Call it once
   * per request. Never throws.
   */
  record(request: CapturedRequest): void {
    this.recorder.record(request);
  }

  /**
   * Wraps a bare node:http request handler so every request is captured. A
   * handler that throws or returns a rejected promise has its error stored
   * with the request (see `captureErrors`) and is answered 500 (or its
   * response is ended, when headers were already sent) instead of crashing
   * the process; the error is also emitted as `handlerError`.
   *
   * @example
   * ```ts
   * http.createServer(pulse.wrap((req, res) => res.end('ok'))).listen(3000);
   * ```
   */
  wrap<Req extends IncomingMessage, Res extends ServerResponse>(handler: (req: Req, res: Res) => unknown): (req: Req, res: Res) => void {
    const middleware = this.middleware();
    const failed = (req: Req, res: Res, error: unknown) => {
      this.captureError(error, req, { ifServerError: true });
      serveFailedHandler(res);
      this.emitSafely('handlerError', { error: error instanceof Error ? error : new Error(String(error)) });
    };
    return (req, res) => {
      middleware(req, res);
      let result: unknown;
      try {
        result = handler(req, res);
      } catch (error) {
        failed(req, res, error);
        return;
      }
      if (result instanceof Promise) result.catch((error: unknown) => failed(req, res, error));
    };
  }

  /**
   * Stores `error` with the request it happened in, in the request's `error`
   * column and grouped by fingerprint in `pgpulse.errors`: its class, its
   * message (through `redactErrorMessage`, bounded) and its top stack frames,
   * never a body. `source` is the node:http request or response, a Fastify
   * request or a Hono context. Reported errors are stored whatever the status
   * (`ifServerError: true` stores it only when the response is a 5xx, as the
   * framework hooks do). Call it before the response ends or just after (the
   * capture batch reads it); later, or for a request pgpulse does not track,
   * it is counted in `stats.errorsDropped`. Never throws.
   *
   * @example
   * ```ts
   * app.get('/orders/:id', async (req, res) => {
   *   try { res.json(await loadOrder(req.params.id)); }
   *   catch (err) { pulse.captureError(err, req); res.status(503).json({ error: 'unavailable' }); }
   * });
   * ```
   */
  captureError(error: unknown, source: ErrorSource, options: CaptureErrorOptions = {}): void {
    try {
      const target = errorTargetOf(source);
      const outcome = target ? attachError(target, error, options.ifServerError !== true) : 'untracked';
      if (outcome === 'late') this.recorder.dropError('reported after its request was recorded');
      else if (outcome === 'untracked') this.recorder.dropError('reported for a request pgpulse does not track');
    } catch (failure) {
      this.recorder.fail(failure);
    }
  }

  /**
   * Express error middleware storing the error behind each 5xx answer with
   * its request, then passing it on (`next(err)`): mount it after your routes
   * and before your own error handlers.
   *
   * @example
   * ```ts
   * app.use(pulse.middleware());
   * app.get('/', handler);
   * app.use(pulse.errorMiddleware());
   * ```
   */
  errorMiddleware(): (error: unknown, req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => void {
    return (error, req, _res, next) => {
      this.captureError(error, req, { ifServerError: true });
      next(error);
    };
  }

  /** Resolves when every request captured before the call is committed. */
  async flush(signal?: AbortSignal): Promise<void> {
    // Derive and broadcast the captured requests still waiting for their batch,
    // then let queued PubSub deliveries reach the writer.
    this.recorder.drain();
    await new Promise<void>((resolve) => setImmediate(resolve));
    await this.writer?.flush(signal);
  }

  /** Counters for monitoring degraded modes. */
  get stats(): PulseStats {
    return {
      pubsub: { ...this.pubsub.stats },
      writer: this.writer && { ...this.writer.stats },
      captured: this.recorder.captured,
      captureFailures: this.recorder.failures,
      attributesDropped: { ...this.recorder.attributesDropped },
      refererHostsRejected: this.recorder.refererHostsRejected,
      consumersDropped: { ...this.recorder.consumersDropped },
      errorsDropped: this.recorder.errorsDropped,
      redactionsFailed: { ...this.recorder.redactionsFailed },
      poolErrors: this.poolErrors,
      maintenanceErrors: this.maintenanceErrors,
      alerts: this.alerts?.stats ?? null,
    };
  }

  /** The prom-client registry pgpulse's metrics are on (`options.registry` or a private one). */
  get registry(): MetricsRegistry {
    if (!this.pgpulseMetrics) throw new Error(PROM_CLIENT_MISSING);
    return this.pgpulseMetrics.registry;
  }

  /**
   * The metrics of {@link registry} in the Prometheus text exposition format
   * (content type `registry.contentType`). With the app's own registry, this
   * includes the app's metrics too.
   */
  async metrics(): Promise<string> {
    return this.registry.metrics();
  }

  /**
   * For the app's readiness endpoint: whether the writer keeps up (fewer than
   * `healthMaxPendingRows` rows waiting, and when a batch last committed) and
   * whether Postgres answers within `healthTimeoutMs`. Never throws.
   */
  async health(): Promise<PulseHealth> {
    const postgres = await checkPostgres(this.db, this.healthTimeoutMs);
    const writer = this.writerHealth();
    return { ok: postgres.ok && (writer?.ok ?? true), writer, postgres };
  }

  /** The writer part of {@link health} (no Postgres round trip); null with `store: false`. */
  private writerHealth(): WriterHealth | null {
    if (!this.writer) return null;
    const limits = { maxPendingRows: this.healthMaxPendingRows, stalledAfterMs: this.healthStalledAfterMs };
    return writerHealth(this.writer.stats, limits, this.lastWriteAt, this.lastWriteError);
  }

  /**
   * Flushes buffered rows, stops the writer and closes the connections
   * pgpulse opened (never the app's own pool or Kysely). Requests answered
   * while it runs are still recorded and stored (for up to
   * {@link KEEP_RECORDING_MS}); after it, they are counted as dropped
   * (`closed`), so close the app's HTTP servers first (`closeOnSignals({
   * servers })` does). Returns once the last batch is committed, and within
   * `closeTimeoutMs` whatever Postgres does: rows it could not write by then
   * are counted in `stats.writer.dropped` with a `drop` event (`close_timeout`).
   * Safe to call twice.
   */
  close(): Promise<void> {
    return this.closeWithin(this.closeTimeoutMs);
  }

  /** close(), giving up on unwritten rows after `timeoutMs` (closeOnSignals starts the clock at the signal). */
  private closeWithin(timeoutMs: number): Promise<void> {
    this.closing ??= this.shutdown(Date.now() + Math.max(0, timeoutMs));
    return this.closing;
  }

  private async shutdown(deadline: number): Promise<void> {
    const started = performance.now();
    const left = () => Math.max(0, deadline - Date.now());
    clearTimeout(this.maintenanceStart);
    clearInterval(this.maintenanceTimer);
    clearInterval(this.cubeTimer);
    this.cubeAbort.abort();
    if (this.writer) await this.flushWhileArriving(Math.min(left(), KEEP_RECORDING_MS));
    else this.recorder.drain();
    await this.writer?.close(left());
    await settledWithin(this.cubeRun, left());
    await settledWithin(this.alerts?.close(), left());
    this.closeAlertMetrics();
    this.removeMetrics();
    // A pool with a client stuck on a lost server never ends; the process may exit regardless.
    await settledWithin(this.connection.close(), Math.max(left(), POOL_END_MS));
    const writer = this.writer?.stats;
    this.emitSafely('closed', { durationMs: performance.now() - started, written: writer?.written ?? 0, dropped: writer?.dropped ?? 0 });
  }

  /** Flushes until a round found no newly answered request, for up to `timeoutMs`. */
  private async flushWhileArriving(timeoutMs: number): Promise<void> {
    const signal = AbortSignal.timeout(timeoutMs);
    try {
      for (;;) {
        const seen = this.recorder.received;
        await this.flush(signal);
        if (this.recorder.received === seen) return;
      }
    } catch {
      // Out of time: writer.close() writes or counts what is left.
    }
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Emits without letting a throwing listener reach pgpulse's internals or the app's request. */
  private emitSafely<K extends keyof PulseEvents>(name: K, ...args: PulseEvents[K]): void {
    if (this.listenerCount(name) === 0) return;
    try {
      (this.emit as (name: K, ...args: PulseEvents[K]) => boolean)(name, ...args);
    } catch {
      // The app's listener threw; pgpulse carries on.
    }
  }

  /**
   * On SIGTERM or SIGINT (`signals`), closes the app's HTTP servers
   * (`servers`: no new connections, keep-alive ones closed after their
   * response, the rest by force after `drainTimeoutMs`), then flushes and
   * closes this pulse, so every answered request is stored; all within
   * `closeTimeoutMs` of the signal, whatever Postgres does (rows it could not
   * write are counted as dropped, `close_timeout`). When no other listener
   * handles the signal, it is raised again after closing so the process exits
   * as it would have. Returns a function that removes the handlers. An array
   * argument is the signals (the earlier signature).
   *
   * @example
   * ```ts
   * const server = app.listen(3000);
   * pulse.closeOnSignals({ servers: [server] });
   * ```
   */
  closeOnSignals(options: CloseOnSignalsOptions | readonly NodeJS.Signals[] = {}): () => void {
    const resolved = isSignalList(options) ? { signals: options } : options;
    return closeOnSignals({ closeWithin: (ms) => this.closeWithin(ms), closeTimeoutMs: this.closeTimeoutMs }, resolved);
  }
}

/** Longest close() keeps recording requests answered while it flushes, in ms; later ones are counted as dropped (`closed`). */
export const KEEP_RECORDING_MS = 1_000;

/** How long pgpulse waits for its pool to end when the close deadline has passed, in ms. */
const POOL_END_MS = 100;

function isSignalList(options: CloseOnSignalsOptions | readonly NodeJS.Signals[]): options is readonly NodeJS.Signals[] {
  return Array.isArray(options);
}

/** Waits for `promise` to settle, for at most `ms`. Never rejects. */
async function settledWithin(promise: Promise<unknown> | undefined, ms: number): Promise<void> {
  if (!promise) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise.catch(() => undefined), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}

/**
 * The options handed to the writer: everything but the connection objects and
 * what cannot cross a thread boundary (functions, e.g. capture's `ignore`
 * predicates), so writer options added later reach a worker too.
 */
function pickWriterOptions(options: PulseOptions): Omit<WriterOptions, 'nodeId'> {
  const picked: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined || key === 'pool' || key === 'db' || key === 'connectionString') continue;
    try {
      structuredClone(value);
      picked[key] = value;
    } catch {
      // not plain data: not a writer option
    }
  }
  return picked;
}

/** Creates the pgpulse instance for this process. */
export function createPulse(options: PulseOptions): Pulse {
  return new Pulse(options);
}
