import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql, type Kysely } from 'kysely';
import { logListenerEvents } from '../events/log-listener-events.js';
import { decodeBridgeMessage, fromRowTuple, type BridgeMessage } from '../bridge/message.js';
import { PubSub } from '../pubsub.js';
import type { StoredRequestLog } from '../request-log.js';
import { DeliveredRows } from './delivered-rows.js';
import { connect, type Connection } from '../store/connection.js';
import type { PulseDatabase } from '../store/database.js';
import { fetchBackfillPage, fetchByIdRanges, fetchByIds, fetchByTx, fetchCatchUpKeys, toStoredRow, type TxRow } from '../store/fetch-rows.js';
import { resolveListenerOptions, type ListenerOptions, type ResolvedListenerOptions } from './listener-options.js';
import { PgListenTransport } from './pg-listen-transport.js';
import { SerialQueue } from './serial-queue.js';
import { isVisibleInSnapshot, parseSnapshot, type Snapshot } from './snapshot.js';
import type { ListenTransport, ListenTransportFactory, TransportHandlers } from './transport.js';
import { WalTransport } from './wal-transport.js';

/** Counters for monitoring the bridge; every degraded mode shows up here. */
export interface ListenerStats {
  /** Payloads received on the channel (valid or not). */
  notifications: number;
  /** Rows received from the WAL stream (`transport: 'wal'`), before dedupe. */
  streamed: number;
  /**
   * Rows of WAL transactions larger than `maxTrackedRows` (`transport: 'wal'`):
   * not buffered from the stream, delivered by the periodic catch-up instead.
   */
  streamSkipped: number;
  /** Rows published to the PubSub. */
  delivered: number;
  /** Rows fetched from Postgres because a message carried ids, not rows. */
  fetched: number;
  /**
   * Rows delivered by catch-up, i.e. without their notification: committed
   * while disconnected, or whose NOTIFY was skipped or failed, or is late.
   */
  caughtUp: number;
  /** The part of `caughtUp` found by the periodic catch-up (each heartbeat), not by the one after a reconnect. */
  caughtUpPeriodic: number;
  /** Rows delivered by the `since` backfill. */
  backfilled: number;
  /** Rows seen again (redelivered notification or overlap with catch-up) and skipped. */
  duplicatesSkipped: number;
  /** Rows dropped because their origin is this listener's `nodeId`. */
  ownOrigin: number;
  /**
   * Payloads that are not pgpulse messages (garbage), and
   * WAL messages or rows the `wal` transport could not decode; ignored (an
   * undecodable WAL message also replaces the stream, see `disconnects`).
   */
  malformed: number;
  /**
   * Messages of another bridge format version (from nodes running another
   * pgpulse version during a rolling deploy): not decoded; their rows are
   * delivered by the periodic catch-up.
   */
  otherVersion: number;
  /** Rows a message announced that were no longer in the table when fetched. */
  missing: number;
  /** Times the LISTEN connection was lost. */
  disconnects: number;
  /** Times it was re-established. */
  reconnects: number;
  /** Periodic catch-ups completed (one per heartbeat). */
  heartbeats: number;
  /** Row ids currently held for dedupe (bounded by the watermark, see `maxTrackedRows`). */
  tracked: number;
  /** Messages and catch-ups waiting to be processed. */
  queued: number;
}

/** Where a listener error happened. */
export const listenerPhases = ['connect', 'heartbeat', 'fetch', 'catch_up', 'backfill', 'pool', 'deliver'] as const;
export type ListenerPhase = (typeof listenerPhases)[number];

/** Why a catch-up ran. */
export type CatchUpReason = 'reconnect' | 'periodic';

/** Events a Listener emits. There is deliberately no `error` event: nothing here can crash an app. */
export interface ListenerEvents {
  /** The LISTEN connection was lost; reconnecting (forever) starts now. */
  disconnected: [info: { error: Error }];
  /** LISTEN is active again after `attempts` tries; catch-up is queued. */
  reconnected: [info: { attempts: number; downMs: number }];
  /**
   * A catch-up delivered rows that had no notification. `reason` `reconnect`:
   * after a reconnect (emitted even with 0 rows); `periodic`: the heartbeat's
   * catch-up (emitted only when it found rows, e.g. when NOTIFY was skipped).
   */
  caughtUp: [info: { rows: number; durationMs: number; reason: CatchUpReason }];
  /**
   * A payload was not a pgpulse message, or (`wal` transport) a WAL message
   * or row could not be decoded; `payload` is its first 200 characters (a
   * description with the first bytes in hex, for a WAL message).
   */
  malformed: [info: { payload: string; error: Error }];
  /** Something failed and is being retried (`retryInMs`) or was skipped. */
  listenerError: [info: { error: Error; phase: ListenerPhase; retryInMs?: number }];
}

/**
 * Receives the NOTIFY bridge on a dedicated connection and publishes every
 * committed row exactly once on a local PubSub, including rows committed while
 * the connection was down and rows whose notification never came.
 *
 * NOTIFY is only a latency hint. Completeness rests on a watermark: a
 * `pg_snapshot` such that every row of a transaction visible in it has been
 * delivered. Each heartbeat (and each reconnect) runs a catch-up: take a
 * fresh snapshot, deliver the rows of committed transactions the watermark
 * does not cover, adopt the snapshot as the new watermark. Notifications of
 * transactions visible in the watermark are skipped; the others are delivered
 * at once and their row ids remembered until the watermark covers them, so
 * the catch-up does not deliver them again. A row committed without a
 * notification is therefore delivered within about one `heartbeatIntervalMs`.
 */
export class Listener extends EventEmitter<ListenerEvents> implements AsyncDisposable {
  /** Where delivered rows are published. */
  readonly pubsub: PubSub;
  private readonly counters: Omit<ListenerStats, 'tracked' | 'queued'> = {
    notifications: 0,
    streamed: 0,
    streamSkipped: 0,
    delivered: 0,
    fetched: 0,
    caughtUp: 0,
    caughtUpPeriodic: 0,
    backfilled: 0,
    duplicatesSkipped: 0,
    ownOrigin: 0,
    malformed: 0,
    otherVersion: 0,
    missing: 0,
    disconnects: 0,
    reconnects: 0,
    heartbeats: 0,
  };
  private readonly options: ResolvedListenerOptions;
  /** The query pool: fetches, catch-up, snapshots, the LISTEN probe. */
  private readonly connection: Connection;
  private readonly db: Kysely<PulseDatabase>;
  private readonly queue = new SerialQueue((error) => this.report('deliver', error));
  private readonly deliveredRows = new DeliveredRows();
  private readonly abort = new AbortController();
  private readonly transport: ListenTransport;
  /** Private channel of the start-up probe (see `probeListen`). */
  private readonly probeChannel = `pgpulse_probe_${randomBytes(8).toString('hex')}`;
  private probeArrived: ((token: string) => void) | undefined;
  private watermark: Snapshot | undefined;
  /** Snapshot of the previous heartbeat: the next periodic catch-up covers it. */
  private previousSnapshot: Snapshot | undefined;
  private openGate!: () => void;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private catchUpQueued = false;
  private earlyHeartbeatPending = false;
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
    return { ...this.counters, tracked: this.deliveredRows.size, queued: this.queue.pending };
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
      clearTimeout(this.heartbeatTimer);
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
    if (o.transport === 'wal') {
      return new WalTransport(
        {
          connectionString: o.listenConnectionString,
          applicationName: o.applicationName,
          publication: o.publication,
          connectTimeoutMs: o.connectTimeoutMs,
          checkIntervalMs: o.heartbeatIntervalMs,
          checkTimeoutMs: o.heartbeatTimeoutMs,
          retryDelayMs: (attempt) => this.backoff(attempt),
          maxTransactionRows: o.maxTrackedRows,
        },
        handlers,
      );
    }
    return new PgListenTransport(
      {
        connectionString: o.listenConnectionString,
        applicationName: o.applicationName,
        connectTimeoutMs: o.connectTimeoutMs,
        checkIntervalMs: o.heartbeatIntervalMs,
        checkTimeoutMs: o.heartbeatTimeoutMs,
        retryDelayMs: (attempt) => this.backoff(attempt),
        channels: [o.channel, this.probeChannel],
      },
      handlers,
    );
  }

  private async firstConnect(): Promise<void> {
    try {
      await this.transport.connect();
      if (this.abort.signal.aborted) throw new Error('closed while connecting');
      // A replication connection cannot pass a pooler at all; only LISTEN needs the probe.
      if (this.options.transport === 'notify') await this.probeListen();
      // Taken once notifications flow: every transaction not visible in it is notified (or caught up).
      this.watermark = await this.snapshot();
    } catch (error) {
      await this.transport.close();
      if (this.options.transport === 'wal') throw error;
      throw new Error(`pgpulse listener: cannot LISTEN on channel "${this.options.channel}": ${(error as Error).message}`, { cause: error });
    }
    this.connected = true;
    const since = this.options.since;
    const first = this.watermark;
    if (since) this.queue.push(() => this.backfill(first, since));
    this.openGate();
    this.scheduleHeartbeat();
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
    this.queue.push(() => this.catchUp('reconnect'));
    this.emit('reconnected', info);
  }

  /**
   * Checks that LISTEN really works on the listen connection: a notification
   * sent from the query pool (another session) must arrive. Through a
   * transaction-mode pooler (PgBouncer `pool_mode=transaction`) the LISTEN
   * session goes back to the pooler's pool after each transaction, so the
   * probe never arrives and start() fails with a message that says so. When
   * the probe cannot be sent at all (e.g. the NOTIFY queue is full) the check
   * is skipped and reported: the listener still delivers by catch-up.
   */
  private async probeListen(): Promise<void> {
    const token = randomBytes(8).toString('hex');
    const timeoutMs = Math.min(this.options.connectTimeoutMs, 5_000);
    let timer: NodeJS.Timeout | undefined;
    const arrived = new Promise<boolean>((resolve) => {
      this.probeArrived = (payload) => payload === token && resolve(true);
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    try {
      try {
        await sql`select pg_notify(${this.probeChannel}, ${token})`.execute(this.db);
      } catch (error) {
        this.report('connect', new Error(`LISTEN probe not sent, check skipped: ${(error as Error).message}`, { cause: error }));
        return;
      }
      if (await arrived) return;
      const target = describeTarget(this.options.listenConnectionString);
      throw new Error(
        `LISTEN does not work through ${target}: a probe notification sent from another session did not arrive within ${timeoutMs} ms. ` +
          'Is it a transaction-mode pooler (PgBouncer pool_mode=transaction)? The LISTEN connection must reach Postgres directly or through a ' +
          'session-mode pooler: pass listenConnectionString (CLI: --listen-database-url) pointing past the pooler',
      );
    } finally {
      clearTimeout(timer);
      this.probeArrived = undefined;
    }
  }

  /** `pg_current_snapshot()` on the query pool. */
  private async snapshot(): Promise<Snapshot> {
    const result = await sql<{ snapshot: string }>`select pg_current_snapshot()::text as snapshot`.execute(this.db);
    return parseSnapshot(result.rows[0]!.snapshot);
  }

  private backoff(attempt: number): number {
    const { minReconnectDelayMs: min, maxReconnectDelayMs: max } = this.options;
    return Math.min(max, min * 2 ** Math.min(attempt - 1, 20));
  }

  /** Sleeps about `ms` (±25%); false when the listener closed meanwhile. */
  private async pause(ms: number): Promise<boolean> {
    try {
      await sleep(ms * (0.75 + Math.random() * 0.5), undefined, { signal: this.abort.signal, ref: false });
      return true;
    } catch {
      return false;
    }
  }

  private onNotification(channel: string, payload: string): void {
    if (channel === this.probeChannel) {
      this.probeArrived?.(payload);
      return;
    }
    if (channel !== this.options.channel) return;
    this.counters.notifications++;
    let message: BridgeMessage;
    try {
      const decoded = decodeBridgeMessage(payload);
      if ('otherVersion' in decoded) {
        // Not an error: the periodic catch-up delivers its rows.
        this.counters.otherVersion++;
        return;
      }
      message = decoded;
    } catch (error) {
      this.onMalformed(payload, error as Error);
      return;
    }
    if (this.options.nodeId !== undefined && message.o === this.options.nodeId) {
      this.counters.ownOrigin += message.n;
      return;
    }
    this.queue.push(() => this.handleMessage(message));
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
        this.deliverStreamed(txId, toStoredRow(r));
      }
    });
  }

  private deliverStreamed(txId: bigint, row: StoredRequestLog): void {
    if (!this.watermark) return;
    if (isVisibleInSnapshot(txId, this.watermark)) this.counters.duplicatesSkipped++;
    else if (this.options.nodeId !== undefined && row.node_id === this.options.nodeId) this.counters.ownOrigin++;
    else this.deliver(txId, row);
  }

  private async handleMessage(message: BridgeMessage): Promise<void> {
    if (!this.watermark) return;
    const txId = BigInt(message.tx);
    if (isVisibleInSnapshot(txId, this.watermark)) {
      this.counters.duplicatesSkipped += message.n;
      return;
    }
    if ('r' in message) {
      for (const tuple of message.r) this.deliver(txId, fromRowTuple(tuple, message.o));
      return;
    }
    const rows = await this.retrying('fetch', () =>
      message.ids.length > 0 ? fetchByIdRanges(this.db, message.tx, message.ids) : fetchByTx(this.db, message.tx),
    );
    if (!rows) return;
    this.counters.fetched += rows.length;
    if (rows.length < message.n) this.counters.missing += message.n - rows.length;
    for (const { row } of rows) this.deliver(txId, row);
  }

  /** Publishes a row unless already delivered; true when published. */
  private deliver(txId: bigint, row: StoredRequestLog): boolean {
    if (this.deliveredRows.has(txId, row.id)) {
      this.counters.duplicatesSkipped++;
      return false;
    }
    this.deliveredRows.add(txId, row.id);
    this.counters.delivered++;
    this.pubsub.publish(row);
    if (this.deliveredRows.size > this.options.maxTrackedRows && !this.earlyHeartbeatPending) {
      this.earlyHeartbeatPending = true;
      this.scheduleHeartbeat(0);
    }
    return true;
  }

  /**
   * Delivers the committed rows of transactions the watermark does not cover
   * and that were not delivered yet, then moves the watermark. Reads keys
   * first, so rows that came by notification are not fetched again. A
   * failure leaves the watermark where it was: the next heartbeat tries again
   * and nothing is lost.
   *
   * After a reconnect it covers everything committed so far (the snapshot
   * taken before reading becomes the watermark). The periodic one lags by one
   * heartbeat: it covers only transactions visible in the snapshot taken at
   * the previous heartbeat, so their notifications had a whole interval to
   * arrive and the catch-up does not race them; a row committed without a
   * notification is delivered within about two heartbeat intervals.
   */
  private async catchUp(reason: CatchUpReason): Promise<void> {
    const watermark = this.watermark;
    if (!watermark || this.abort.signal.aborted) return;
    const started = performance.now();
    let rows = 0;
    try {
      const snapshot = await this.snapshot();
      const upTo = reason === 'periodic' ? this.previousSnapshot : snapshot;
      if (reason === 'periodic') this.previousSnapshot = snapshot;
      if (upTo && upTo.text !== watermark.text) {
        let cursor = { txId: '0', id: 0 };
        for (;;) {
          const keys = await fetchCatchUpKeys(this.db, watermark, reason === 'periodic' ? upTo : undefined, cursor, this.options.catchUpPageSize);
          const missing = keys.filter((k) => !this.deliveredRows.has(k.txId, k.id) && (this.options.nodeId === undefined || k.nodeId !== this.options.nodeId));
          if (missing.length > 0)
            rows += this.deliverAll(
              await fetchByIds(
                this.db,
                missing.map((k) => k.id),
              ),
            );
          const last = keys.at(-1);
          if (!last || keys.length < this.options.catchUpPageSize) break;
          cursor = { txId: last.txId.toString(), id: last.id };
        }
        this.advance(upTo);
      }
      if (reason === 'periodic') this.counters.heartbeats++;
    } catch (error) {
      this.report('catch_up', error, this.options.heartbeatIntervalMs);
      return;
    } finally {
      this.counters.caughtUp += rows;
      if (reason === 'periodic') this.counters.caughtUpPeriodic += rows;
    }
    if (reason === 'reconnect' || rows > 0) this.emit('caughtUp', { rows, durationMs: performance.now() - started, reason });
  }

  /** `since` option: rows inserted since then by transactions visible in the first snapshot. */
  private async backfill(snapshot: Snapshot, since: Date): Promise<void> {
    let afterId = 0;
    for (;;) {
      const page = await this.retrying('backfill', () => fetchBackfillPage(this.db, snapshot.text, since, afterId, this.options.catchUpPageSize));
      if (!page) return;
      this.counters.backfilled += this.deliverAll(page);
      const last = page.at(-1);
      if (!last || page.length < this.options.catchUpPageSize) return;
      afterId = last.row.id;
    }
  }

  private deliverAll(rows: readonly TxRow[]): number {
    let delivered = 0;
    for (const { txId, row } of rows) {
      if (this.options.nodeId !== undefined && row.node_id === this.options.nodeId) this.counters.ownOrigin++;
      else if (this.deliver(txId, row)) delivered++;
    }
    return delivered;
  }

  private advance(snapshot: Snapshot): void {
    if (this.watermark && snapshot.xmax < this.watermark.xmax) return;
    this.watermark = snapshot;
    this.deliveredRows.prune(snapshot);
    this.earlyHeartbeatPending = false;
  }

  /** Queues a periodic catch-up every `heartbeatIntervalMs` (sooner when the dedupe set is large). */
  private scheduleHeartbeat(delayMs: number = this.options.heartbeatIntervalMs): void {
    if (this.abort.signal.aborted) return;
    clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = setTimeout(() => this.heartbeat(), delayMs);
    this.heartbeatTimer.unref();
  }

  private heartbeat(): void {
    if (this.catchUpQueued) {
      this.scheduleHeartbeat();
      return;
    }
    this.catchUpQueued = true;
    this.queue.push(async () => {
      try {
        await this.catchUp('periodic');
      } finally {
        this.catchUpQueued = false;
        this.scheduleHeartbeat();
      }
    });
  }

  /** Runs `query` until it succeeds, reporting each failure; undefined when closed meanwhile. */
  private async retrying<T>(phase: ListenerPhase, query: () => Promise<T>): Promise<T | undefined> {
    for (let attempt = 1; !this.abort.signal.aborted; attempt++) {
      try {
        return await query();
      } catch (error) {
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- close() may have aborted during the query
        if (this.abort.signal.aborted) return undefined;
        const retryInMs = this.backoff(attempt);
        this.report(phase, error, retryInMs);
        if (!(await this.pause(retryInMs))) return undefined;
      }
    }
    return undefined;
  }

  private report(phase: ListenerPhase, error: unknown, retryInMs?: number): void {
    if (this.listenerCount('listenerError') === 0) return;
    const wrapped = new Error(`pgpulse listener: ${phase.replace('_', '-')} failed: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
    try {
      this.emit('listenerError', retryInMs === undefined ? { error: wrapped, phase } : { error: wrapped, phase, retryInMs });
    } catch {
      // a throwing listener must not stop delivery
    }
  }
}

/** `host:port` of a Postgres URL, without credentials, for messages. */
function describeTarget(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || '5432'}`;
  } catch {
    return 'the listen connection';
  }
}

/** Creates a Listener; call `start()` to begin. */
export function createListener(options: ListenerOptions): Listener {
  return new Listener(options);
}
