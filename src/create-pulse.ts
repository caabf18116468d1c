import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Kysely } from 'kysely';
import type { CapturedRequest } from './capture/captured-request.js';
import type { IgnoreRequest } from './capture/ignore.js';
import type { MetricsRegistry } from './metrics/metrics-registry.js';
import { Recorder } from './capture/recorder.js';
import { attachError, createNodeMiddleware, trackResponse, type FrameworkReader, type NodeMiddleware } from './capture/node-middleware.js';
import { errorTargetOf, serveFailedHandler, type CaptureErrorOptions, type ErrorSource } from './capture/error-target.js';
import { Sessions } from './capture/sessions.js';
import { parseOption, positiveNumber } from './shared/option-schema.js';
import { VisitorIds } from './capture/visitor-ids.js';
import { connect, type Connection } from './store/connection.js';
import type { PulseDatabase } from './schema/database.js';
import { migrate, type MigrationResult } from './store/migrate.js';
import { defaultNodeId } from './node-id.js';
import { PubSub } from './pubsub.js';
import { isLockTimeout, type PartitionMaintenanceResult } from './store/maintain-partitions.js';
import type { CubeCatchUpResult } from './store/cube-catch-up.js';
import { BackgroundJobs, backgroundSchedule } from './store/background-jobs.js';
import type { PulseWriter } from './writer/pulse-writer.js';
import { createPulseWriter, writerModeOf } from './writer/select-writer.js';
import { writerLimits } from './writer/writer.js';
import { writerEventNames } from './writer/writer-events.js';
import { closeOnSignals, type CloseOnSignalsOptions } from './shutdown/close-on-signals.js';
import { logPulseEvents } from './events/log-pulse-events.js';
import type { PulseEvents } from './events/pulse-events.js';
import { checkPostgres } from './health/check-postgres.js';
import type { PulseHealth, WriterHealth } from './health/pulse-health.js';
import { writerHealth, type LastWriteError } from './health/writer-health.js';
import { pgpulseMetrics, type PgpulseMetrics } from './metrics/pgpulse-metrics.js';
import { loadPromClient, PROM_CLIENT_MISSING } from './metrics/prom-client.js';
import { PulseAlerts } from './alerts/pulse-alerts.js';
import { alertMetrics } from './metrics/alert-metrics.js';
import { recordRelease, resolveRelease } from './releases/release.js';
import { HttpMetrics } from './metrics/http-metrics.js';
import type { PulseOptions, PulseStats } from './pulse-options.js';

export type { PulseOptions, PulseStats } from './pulse-options.js';

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
  private readonly jobs: BackgroundJobs;
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
    // Options are checked before anything connects or starts: a throwing constructor leaves nothing open.
    const schedule = backgroundSchedule(options);
    const writerMode = options.store !== false ? writerModeOf(options) : undefined;
    this.healthMaxPendingRows = parseOption(
      'pgpulse',
      'healthMaxPendingRows',
      positiveNumber,
      options.healthMaxPendingRows ?? Math.ceil((options.maxBufferedRows ?? 100_000) / 2),
    );
    this.healthTimeoutMs = parseOption('pgpulse', 'healthTimeoutMs', positiveNumber, options.healthTimeoutMs ?? 2_000);
    this.healthStalledAfterMs = parseOption('pgpulse', 'healthStalledAfterMs', positiveNumber, options.healthStalledAfterMs ?? 30_000);
    this.closeTimeoutMs = writerLimits(options).closeTimeoutMs;
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
    this.jobs = new BackgroundJobs(this.db, options.retentionDays, {
      onError: (error) => this.emitSafely('maintenanceError', { error }),
      onBatch: (batch) => this.emitSafely('backfillProgress', batch),
    });
    this.wireRecorder(httpMetrics);
    if (options.logger) logPulseEvents(this, options.logger);
    if (writerMode) {
      this.writer = createPulseWriter(writerMode, options, {
        db: this.db,
        nodeId: this.nodeId,
        copyPool: this.connection.pool,
        onPoolError: () => this.poolErrors++,
      });
      this.attachWriter(this.writer);
    }
    void this.visitorIds.load();
    this.removeMetrics = this.addMetrics();
    if (options.store !== false) this.jobs.start(schedule);
    if (options.store !== false && (options.alerts?.length ?? 0) > 0) this.alerts = this.startAlerts(options);
    // Before migrate() the table may not exist yet: migrate() records it again.
    if (options.store !== false) void this.recordRelease().catch(() => undefined);
  }

  /** Forwards the recorder's reports as events (and its requests to the HTTP metrics). */
  private wireRecorder(httpMetrics: HttpMetrics | undefined): void {
    this.recorder.onFailure = (error) => this.emitSafely('captureError', { error });
    if (httpMetrics) this.recorder.onCaptured = (log) => httpMetrics.observe(log);
    this.recorder.onAttributesDropped = (info) => this.emitSafely('attributesDropped', info);
    this.recorder.onRefererHostRejected = (info) => this.emitSafely('refererHostRejected', info);
    this.recorder.onConsumerDropped = (info) => this.emitSafely('consumerDropped', info);
    this.recorder.onErrorDropped = (info) => this.emitSafely('errorDropped', info);
    this.recorder.onRedactionFailed = (info) => this.emitSafely('redactionFailed', info);
  }

  /** Feeds the writer from the PubSub, forwards its events and keeps what health() reads. */
  private attachWriter(writer: PulseWriter): void {
    writer.on('flushed', () => (this.lastWriteAt = new Date()));
    writer.on('writeError', ({ error }) => (this.lastWriteError = { message: error.message, at: new Date() }));
    for (const name of writerEventNames) writer.on(name, ((info: never) => this.emitSafely(name, info)) as never);
    // Never unsubscribed: rows captured after close() are counted by the closed writer (drop, reason `closed`).
    this.pubsub.subscribe((message) => writer.add(message.event), {
      name: 'pgpulse-writer',
      maxQueue: Number.MAX_SAFE_INTEGER,
    });
  }

  /** Registers this pulse's metrics; returns what removes them. */
  private addMetrics(): () => void {
    return (
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
      }) ?? (() => undefined)
    );
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

  /**
   * Creates the day partitions ahead of time and applies `retentionDays`.
   * Runs by itself every `maintenanceIntervalMs`; failures are counted in
   * `stats.maintenanceErrors` and retried at the next interval.
   */
  maintain(): Promise<PartitionMaintenanceResult> {
    return this.jobs.maintain();
  }

  /**
   * Brings the request cube up to date with the stored rows (hours not built
   * yet, late rows, rows of nodes that do not know the cube), a week of hours
   * at most per call. Runs by itself every `cubeIntervalMs`; failures are
   * counted in `stats.maintenanceErrors` (event `maintenanceError`) and retried
   * at the next interval. The dashboard stays exact without it (it reads raw
   * rows for what the cube lacks), only slower.
   */
  catchUpCube(): Promise<CubeCatchUpResult> {
    return this.jobs.catchUpCube();
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
      maintenanceErrors: this.jobs.errors,
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
    this.jobs.stop();
    if (this.writer) await this.flushWhileArriving(Math.min(left(), KEEP_RECORDING_MS));
    else this.recorder.drain();
    await this.writer?.close(left());
    await settledWithin(this.jobs.running, left());
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

/** Creates the pgpulse instance for this process. */
export function createPulse(options: PulseOptions): Pulse {
  return new Pulse(options);
}
