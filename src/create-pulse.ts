import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CapturedRequest } from './capture/captured-request.js';
import type { IgnoreRequest } from './capture/ignore.js';
import { Recorder, type CaptureOptions } from './capture/recorder.js';
import { createNodeMiddleware, trackResponse, type FrameworkReader, type NodeMiddleware } from './capture/node-middleware.js';
import { Sessions } from './capture/sessions.js';
import { VisitorIds } from './capture/visitor-ids.js';
import { connect, type Connection, type ConnectionOptions } from './store/connection.js';
import type { PulseDatabase } from './store/database.js';
import { migrate, type MigrationResult } from './store/migrate.js';
import { defaultNodeId } from './node-id.js';
import { PubSub, type PubSubStats } from './pubsub.js';
import { isLockTimeout, maintainPartitions, type PartitionMaintenanceResult } from './store/maintain-partitions.js';
import { Writer, type WriterOptions, type WriterStats } from './writer/writer.js';
import type { Kysely } from 'kysely';

export interface PulseOptions extends ConnectionOptions, CaptureOptions, Omit<WriterOptions, 'nodeId' | 'copyPool'> {
  /** Identifies this process in rows and NOTIFY messages. Default `hostname:pid`. */
  nodeId?: string;
  /** A visitor's session ends after this long without a request. Default 1,800,000 ms (30 min). */
  sessionIdleMs?: number;
  /** Store captured requests in Postgres. Set false to only broadcast them locally. Default true. */
  store?: boolean;
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
}

export interface PulseStats {
  pubsub: PubSubStats;
  writer: WriterStats | undefined;
  /** Requests the capture code failed to record (should stay 0). */
  captureFailures: number;
  /** Errors from idle connections in the pool pgpulse opened (e.g. Postgres restarts). */
  poolErrors: number;
  /** Partition maintenance runs that failed (retried at the next interval). */
  maintenanceErrors: number;
}

/**
 * The pgpulse instance of one app process: capture middleware, local PubSub and
 * batched Postgres writer.
 */
export class Pulse implements AsyncDisposable {
  /** Local, in-process broadcast of captured requests. */
  readonly pubsub = new PubSub();
  /** Batched writer (undefined when `store: false`). */
  readonly writer: Writer | undefined;
  /** Kysely instance pgpulse uses (the app's own when attached). */
  readonly db: Kysely<PulseDatabase>;
  readonly nodeId: string;
  /** @internal adapters use the public capture API: {@link Pulse.track}, {@link Pulse.record}, {@link Pulse.ignores} */
  readonly recorder: Recorder;
  private readonly connection: Connection;
  private readonly visitorIds: VisitorIds;
  private readonly unsubscribeWriter: (() => void) | undefined;
  private closing: Promise<void> | undefined;
  private poolErrors = 0;
  private maintenanceErrors = 0;
  private readonly maintenanceTimer: NodeJS.Timeout | undefined;
  private readonly maintenanceStart: NodeJS.Timeout | undefined;
  private readonly retentionDays: number | undefined;

  constructor(options: PulseOptions) {
    this.nodeId = options.nodeId ?? defaultNodeId();
    this.connection = connect(options, () => this.poolErrors++);
    this.db = this.connection.db;
    this.visitorIds = new VisitorIds(this.db);
    this.recorder = new Recorder(this.pubsub, this.visitorIds, new Sessions(options.sessionIdleMs), this.nodeId, options);
    if (options.store !== false) {
      const writer = new Writer(this.db, { ...options, nodeId: this.nodeId, copyPool: this.connection.pool });
      this.writer = writer;
      this.unsubscribeWriter = this.pubsub.subscribe((message) => writer.add(message.event), {
        name: 'pgpulse-writer',
        maxQueue: Number.MAX_SAFE_INTEGER,
      });
    }
    void this.visitorIds.load();
    this.retentionDays = options.retentionDays;
    const intervalMs = options.maintenanceIntervalMs ?? 6 * 3_600_000;
    if (options.store !== false && intervalMs > 0) {
      // First run shortly after start (the app may still be migrating), then every interval.
      this.maintenanceStart = setTimeout(() => void this.maintain().catch(() => undefined), 10_000);
      this.maintenanceStart.unref();
      this.maintenanceTimer = setInterval(() => void this.maintain().catch(() => undefined), intervalMs);
      this.maintenanceTimer.unref();
    }
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
      throw new Error(`pgpulse partition maintenance failed: ${(error as Error).message}`, { cause: error });
    }
  }

  /** Applies pending SQL migrations (idempotent, safe from several nodes at once). */
  async migrate(): Promise<MigrationResult> {
    const result = await migrate(this.db);
    // The salt table exists now: load today's salt before the first request is hashed.
    await this.visitorIds.load();
    // A partition waiting behind a long reader must not fail the app's start-up:
    // it is retried at the next maintenance (counted in stats.maintenanceErrors).
    if (this.writer) await this.maintain().catch((error: unknown) => {
      if (!isLockTimeout(error)) throw error;
    });
    return result;
  }

  /**
   * Capture middleware for Express/Connect (`app.use(pulse.middleware())`) or
   * bare node:http (`middleware(req, res)` at the top of the handler).
   */
  middleware(): NodeMiddleware {
    return createNodeMiddleware(this.recorder, () => this.recorder.failures++);
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
      trackResponse(this.recorder, req, res, reader as FrameworkReader | undefined, source, remoteAddress ?? req.socket?.remoteAddress);
    } catch {
      this.recorder.failures++;
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

  /** Wraps a bare node:http request handler so every request is captured. */
  wrap<Req extends IncomingMessage, Res extends ServerResponse>(handler: (req: Req, res: Res) => void): (req: Req, res: Res) => void {
    const middleware = this.middleware();
    return (req, res) => {
      middleware(req, res);
      handler(req, res);
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
    return { pubsub: { ...this.pubsub.stats }, writer: this.writer && { ...this.writer.stats }, captureFailures: this.recorder.failures, poolErrors: this.poolErrors, maintenanceErrors: this.maintenanceErrors };
  }

  /**
   * Flushes buffered rows (see `closeTimeoutMs`), stops the writer and closes
   * the connections pgpulse opened (never the app's own pool or Kysely).
   * Safe to call twice.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.recorder.drain();
      await new Promise<void>((resolve) => setImmediate(resolve));
      clearTimeout(this.maintenanceStart);
      clearInterval(this.maintenanceTimer);
      this.unsubscribeWriter?.();
      await this.writer?.close();
      await this.connection.close();
    })();
    return this.closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /**
   * Flushes and closes this pulse when the process receives one of `signals`
   * (default SIGTERM and SIGINT), so a deploy or Ctrl-C loses no captured
   * request. When no other listener handles the signal, it is raised again
   * after closing so the process exits as it would have. Returns a function
   * that removes the handlers.
   */
  closeOnSignals(signals: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT']): () => void {
    const handlers = signals.map((signal) => {
      const handler = () => {
        void this.close().finally(() => {
          if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
        });
      };
      process.once(signal, handler);
      return [signal, handler] as const;
    });
    return () => {
      for (const [signal, handler] of handlers) process.off(signal, handler);
    };
  }
}

/** Creates the pgpulse instance for this process. */
export function createPulse(options: PulseOptions): Pulse {
  return new Pulse(options);
}
