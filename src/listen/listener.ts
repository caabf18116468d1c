import { EventEmitter } from 'node:events';
import { sql, type Kysely } from 'kysely';
import { logListenerEvents } from './log-listener-events.js';
import { decodeBridgeMessage, type BridgeMessage } from '../bridge/message.js';
import { PubSub } from '../pubsub.js';
import { connect, type Connection } from '../store/connection.js';
import type { PulseDatabase } from '../schema/database.js';
import { toStoredRow } from '../store/fetch-rows.js';
import { CatchUp } from './catch-up.js';
import { Heartbeat } from './heartbeat.js';
import { ListenProbe } from './listen-probe.js';
import { newListenerCounters, type CatchUpReason, type ListenerEvents, type ListenerPhase, type ListenerStats } from './listener-events.js';
import { resolveListenerOptions, type ListenerOptions, type ResolvedListenerOptions } from './listener-options.js';
import { PgListenTransport } from './pg-listen-transport.js';
import { backoffMs, retryUntilClosed, type RetryPolicy } from './retry-until-closed.js';
import { SerialQueue } from './serial-queue.js';
import { parseSnapshot, type Snapshot } from '../store/snapshot.js';
import type { ListenTransport, ListenTransportFactory, TransportHandlers } from './transport.js';
import { WalTransport } from './wal-transport.js';
import { errorMessage } from '../shared/describe-error.js';

export { listenerPhases, type CatchUpReason, type ListenerEvents, type ListenerPhase, type ListenerStats } from './listener-events.js';

/**
 * Receives the NOTIFY bridge on a dedicated connection and publishes every
 * committed row exactly once on a local PubSub, including rows committed while
 * the connection was down and rows whose notification never came.
 *
 * NOTIFY is only a latency hint. Completeness rests on a watermark: a
 * `pg_snapshot` such that every row of a transaction visible in it has been
 * delivered (see {@link CatchUp}). Each heartbeat and each reconnect runs a
 * catch-up; a row committed without a notification is therefore delivered
 * within about two `heartbeatIntervalMs`. This class owns the lifecycle: the
 * transport, the query pool, the serial queue and the events.
 */
export class Listener extends EventEmitter<ListenerEvents> implements AsyncDisposable {
  /** Where delivered rows are published. */
  readonly pubsub: PubSub;
  private readonly counters = newListenerCounters();
  private readonly options: ResolvedListenerOptions;
  /** The query pool: fetches, catch-up, snapshots, the LISTEN probe. */
  private readonly connection: Connection;
  private readonly db: Kysely<PulseDatabase>;
  private readonly queue = new SerialQueue((error) => this.report('deliver', error));
  private readonly abort = new AbortController();
  private readonly transport: ListenTransport;
  private readonly probe = new ListenProbe();
  private readonly catchUp: CatchUp;
  private readonly heartbeat: Heartbeat;
  private readonly retryPolicy: RetryPolicy;
  private openGate!: () => void;
  private connected = false;
  private starting: Promise<void> | undefined;
  private closing: Promise<void> | undefined;

  /**
   * @param transport how notifications arrive; default LISTEN through
   * pg-listen on `listenConnectionString` (a logical-replication transport can
   * be passed instead).
   */
  constructor(options: ListenerOptions, transport?: ListenTransportFactory) {
    super();
    this.options = resolveListenerOptions(options);
    this.pubsub = this.options.pubsub ?? new PubSub();
    this.connection = connect({ connectionString: this.options.connectionString, poolSize: this.options.poolSize }, (error) => this.report('pool', error), {
      applicationName: `${this.options.applicationName}-query`,
      connectTimeoutMs: this.options.connectTimeoutMs,
      queryTimeoutMs: this.options.queryTimeoutMs,
    });
    this.db = this.connection.db;
    this.retryPolicy = { signal: this.abort.signal, minMs: this.options.minReconnectDelayMs, maxMs: this.options.maxReconnectDelayMs };
    this.heartbeat = new Heartbeat(
      this.options.heartbeatIntervalMs,
      this.abort.signal,
      (task) => this.queue.push(task),
      () => this.runCatchUp('periodic'),
    );
    this.catchUp = new CatchUp({
      db: this.db,
      pubsub: this.pubsub,
      counters: this.counters,
      nodeId: this.options.nodeId,
      catchUpPageSize: this.options.catchUpPageSize,
      maxTrackedRows: this.options.maxTrackedRows,
      signal: this.abort.signal,
      snapshot: () => this.snapshot(),
      retrying: (phase, query) => this.retrying(phase, query),
      onTrackedOverflow: () => this.heartbeat.early(),
      onAdvance: () => this.heartbeat.moved(),
    });
    const handlers: TransportHandlers = {
      onNotification: (channel, payload) => this.onNotification(channel, payload),
      onRows: (rows) => this.onRows(rows),
      onMalformed: (payload, error) => this.onMalformed(payload, error),
      onRowsSkipped: (count) => void (this.counters.streamSkipped += count),
      onDisconnect: (error) => this.onDisconnect(error),
      onReconnectFailed: (error) => this.report('connect', error),
      onReconnect: (info) => this.onReconnect(info),
    };
    this.transport = transport ? transport(handlers) : this.defaultTransport(handlers);
    if (this.options.logger) logListenerEvents(this, this.options.logger);
    // Nothing is processed before the first watermark exists.
    const gate = new Promise<void>((resolve) => (this.openGate = resolve));
    this.queue.push(() => gate);
  }

  /** Counters (a copy). */
  get stats(): ListenerStats {
    return { ...this.counters, tracked: this.catchUp.tracked, queued: this.queue.pending };
  }

  /** The NOTIFY channel listened on. */
  get channel(): string {
    return this.options.channel;
  }

  /**
   * Connects and LISTENs; resolves once LISTEN is active. Rows committed from
   * then on (or since `since`) are delivered. Rejects when the first connection
   * fails (later losses reconnect forever). Calling it again returns the same promise.
   */
  start(): Promise<void> {
    if (this.closing) return Promise.reject(new Error('pgpulse listener: start() called after close()'));
    this.starting ??= this.firstConnect().catch((error: unknown) => {
      this.starting = undefined;
      throw error;
    });
    return this.starting;
  }

  /** Stops listening and closes every connection. Rows still queued are not delivered. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.abort.abort();
      this.heartbeat.stop();
      this.openGate();
      await this.starting?.catch(() => {});
      await this.transport.close();
      await this.queue.idle();
      await this.connection.close();
    })();
    return this.closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  private defaultTransport(handlers: TransportHandlers): ListenTransport {
    const o = this.options;
    const common = {
      connectionString: o.listenConnectionString,
      applicationName: o.applicationName,
      connectTimeoutMs: o.connectTimeoutMs,
      checkIntervalMs: o.heartbeatIntervalMs,
      checkTimeoutMs: o.heartbeatTimeoutMs,
      retryDelayMs: (attempt: number) => backoffMs(this.retryPolicy, attempt),
    };
    if (o.transport === 'wal') return new WalTransport({ ...common, publication: o.publication, maxTransactionRows: o.maxTrackedRows }, handlers);
    return new PgListenTransport({ ...common, channels: [o.channel, this.probe.channel] }, handlers);
  }

  private async firstConnect(): Promise<void> {
    let first: Snapshot;
    try {
      await this.transport.connect();
      if (this.abort.signal.aborted) throw new Error('closed while connecting');
      // A replication connection cannot pass a pooler at all; only LISTEN needs the probe.
      if (this.options.transport === 'notify')
        await this.probe.run(this.db, Math.min(this.options.connectTimeoutMs, 5_000), this.options.listenConnectionString, (error) =>
          this.report('connect', error),
        );
      first = await this.catchUp.begin();
    } catch (error) {
      await this.transport.close();
      if (this.options.transport === 'wal') throw error;
      throw new Error(`pgpulse listener: cannot LISTEN on channel "${this.options.channel}": ${errorMessage(error)}`, { cause: error });
    }
    this.connected = true;
    const since = this.options.since;
    if (since) this.queue.push(() => this.catchUp.backfill(first, since));
    this.openGate();
    this.heartbeat.schedule();
  }

  private onDisconnect(error: Error): void {
    if (this.abort.signal.aborted || !this.connected) return;
    this.connected = false;
    this.counters.disconnects++;
    this.emit('disconnected', { error });
  }

  private onReconnect(info: { attempts: number; downMs: number }): void {
    if (this.abort.signal.aborted) return;
    this.connected = true;
    this.counters.reconnects++;
    this.queue.push(() => this.runCatchUp('reconnect'));
    this.emit('reconnected', info);
  }

  /** A catch-up (see {@link CatchUp.run}); a failure is reported and retried at the next heartbeat. */
  private async runCatchUp(reason: CatchUpReason): Promise<void> {
    const started = performance.now();
    let rows: number;
    try {
      rows = await this.catchUp.run(reason);
    } catch (error) {
      this.report('catch_up', error, this.options.heartbeatIntervalMs);
      return;
    }
    if (reason === 'reconnect' || rows > 0) this.emit('caughtUp', { rows, durationMs: performance.now() - started, reason });
  }

  /** `pg_current_snapshot()` on the query pool. */
  private async snapshot(): Promise<Snapshot> {
    const result = await sql<{ snapshot: string }>`select pg_current_snapshot()::text as snapshot`.execute(this.db);
    return parseSnapshot(result.rows[0]!.snapshot);
  }

  private onNotification(channel: string, payload: string): void {
    if (channel === this.probe.channel) {
      this.probe.receive(payload);
      return;
    }
    if (channel !== this.options.channel) return;
    this.counters.notifications++;
    let message: BridgeMessage;
    try {
      const decoded = decodeBridgeMessage(payload);
      if ('otherVersion' in decoded) {
        // Not an error (a rolling deploy): an older node's rows are fetched by its transaction id, a newer one's come with the periodic catch-up.
        this.counters.otherVersion++;
        if (!decoded.asReference) return;
        message = decoded.asReference;
      } else message = decoded;
    } catch (error) {
      this.onMalformed(payload, error as Error);
      return;
    }
    if (this.options.nodeId !== undefined && message.o === this.options.nodeId) {
      this.counters.ownOrigin += message.n;
      return;
    }
    this.queue.push(() => this.catchUp.handleMessage(message));
  }

  /** A payload (or WAL message) that could not be decoded: counted, reported, skipped. */
  private onMalformed(payload: string, error: Error): void {
    this.counters.malformed++;
    if (this.listenerCount('malformed') > 0) this.emit('malformed', { payload: payload.slice(0, 200), error });
  }

  /**
   * The rows of one committed transaction, from the WAL. A row without a
   * usable `tx_id` or `id` (e.g. a publication column list that leaves them
   * out) is malformed; the periodic catch-up delivers it from the table.
   */
  private onRows(rows: readonly Record<string, unknown>[]): void {
    this.counters.streamed += rows.length;
    this.queue.push(() => {
      for (const r of rows) {
        let txId: bigint;
        try {
          if (typeof r.tx_id !== 'string' || (typeof r.id !== 'string' && typeof r.id !== 'number')) throw new Error('row without tx_id or id');
          txId = BigInt(r.tx_id);
        } catch (error) {
          this.onMalformed(`WAL row ${JSON.stringify(r).slice(0, 180)}`, error as Error);
          continue;
        }
        this.catchUp.deliverStreamed(txId, toStoredRow(r));
      }
    });
  }

  /** Runs `query` until it succeeds, reporting each failure; undefined when closed meanwhile. */
  private retrying<T>(phase: ListenerPhase, query: () => Promise<T>): Promise<T | undefined> {
    return retryUntilClosed(this.retryPolicy, query, (error, retryInMs) => this.report(phase, error, retryInMs));
  }

  private report(phase: ListenerPhase, error: unknown, retryInMs?: number): void {
    if (this.listenerCount('listenerError') === 0) return;
    const wrapped = new Error(`pgpulse listener: ${phase.replace('_', '-')} failed: ${errorMessage(error)}`, {
      cause: error,
    });
    try {
      this.emit('listenerError', retryInMs === undefined ? { error: wrapped, phase } : { error: wrapped, phase, retryInMs });
    } catch {
      // a throwing listener must not stop delivery
    }
  }
}

/** Creates a Listener; call `start()` to begin. */
export function createListener(options: ListenerOptions): Listener {
  return new Listener(options);
}
