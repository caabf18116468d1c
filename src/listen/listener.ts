import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { decodeBridgeMessage, fromRowTuple, type BridgeMessage } from '../bridge/message.js';
import { PubSub } from '../pubsub.js';
import type { StoredRequestLog } from '../request-log.js';
import { DeliveredRows } from './delivered-rows.js';
import { fetchBackfillPage, fetchByIdRanges, fetchByTx, fetchCatchUpPage, type TxRow } from './fetch-rows.js';
import { ListenConnection } from './listen-connection.js';
import { resolveListenerOptions, type ListenerOptions, type ResolvedListenerOptions } from './listener-options.js';
import { SerialQueue } from './serial-queue.js';
import { isVisibleInSnapshot, type Snapshot } from './snapshot.js';

/** Counters for monitoring the bridge; every degraded mode shows up here. */
export interface ListenerStats {
  /** Payloads received on the channel (valid or not). */
  notifications: number;
  /** Rows published to the PubSub. */
  delivered: number;
  /** Rows fetched from Postgres because a message carried ids, not rows. */
  fetched: number;
  /** Rows delivered by catch-up after a reconnect (committed while disconnected). */
  caughtUp: number;
  /** Rows delivered by the `since` backfill. */
  backfilled: number;
  /** Rows seen again (redelivered notification or overlap with catch-up) and skipped. */
  duplicatesSkipped: number;
  /** Rows dropped because their origin is this listener's `nodeId`. */
  ownOrigin: number;
  /** Payloads that are not pgpulse messages (garbage, other versions); ignored. */
  malformed: number;
  /** Rows a message announced that were no longer in the table when fetched. */
  missing: number;
  /** Times the LISTEN connection was lost. */
  disconnects: number;
  /** Times it was re-established. */
  reconnects: number;
  /** Heartbeats answered. */
  heartbeats: number;
  /** Row ids currently held for dedupe (bounded by the watermark, see `maxTrackedRows`). */
  tracked: number;
  /** Messages and catch-ups waiting to be processed. */
  queued: number;
}

/** Where a listener error happened. */
export const listenerPhases = ['connect', 'heartbeat', 'fetch', 'catch_up', 'backfill', 'pool', 'deliver'] as const;
export type ListenerPhase = (typeof listenerPhases)[number];

/** Events a Listener emits. There is deliberately no `error` event: nothing here can crash an app. */
export interface ListenerEvents {
  /** The LISTEN connection was lost; reconnecting (forever) starts now. */
  disconnected: [info: { error: Error }];
  /** LISTEN is active again after `attempts` tries; catch-up is queued. */
  reconnected: [info: { attempts: number; downMs: number }];
  /** Rows committed while disconnected were delivered. */
  caughtUp: [info: { rows: number; durationMs: number }];
  /** A payload was not a pgpulse message; `payload` is its first 200 characters. */
  malformed: [info: { payload: string; error: Error }];
  /** Something failed and is being retried (`retryInMs`) or was skipped. */
  listenerError: [info: { error: Error; phase: ListenerPhase; retryInMs?: number }];
}

/**
 * Receives the NOTIFY bridge on a dedicated connection and publishes every
 * committed row exactly once on a local PubSub, including rows committed while
 * the connection was down.
 *
 * Exactly-once rests on a watermark: a `pg_snapshot` such that every row of a
 * transaction visible in it has been delivered. Notifications of transactions
 * visible in the watermark are skipped; the others are delivered and their row
 * ids remembered until the watermark covers them. Heartbeats take a fresh
 * snapshot together with a NOTIFY to a private barrier channel; when that
 * barrier arrives, every notification of a transaction visible in the snapshot
 * has arrived before it, so the watermark advances. After a reconnect, LISTEN
 * is re-established first, then rows of transactions not visible in the
 * watermark are queried (catch-up) before the watermark moves on.
 */
export class Listener extends EventEmitter<ListenerEvents> implements AsyncDisposable {
  /** Where delivered rows are published. */
  readonly pubsub: PubSub;
  private readonly counters: Omit<ListenerStats, 'tracked' | 'queued'> = {
    notifications: 0,
    delivered: 0,
    fetched: 0,
    caughtUp: 0,
    backfilled: 0,
    duplicatesSkipped: 0,
    ownOrigin: 0,
    malformed: 0,
    missing: 0,
    disconnects: 0,
    reconnects: 0,
    heartbeats: 0,
  };
  private readonly options: ResolvedListenerOptions;
  private readonly pool: pg.Pool;
  private readonly barrierChannel = `pgpulse_barrier_${randomBytes(8).toString('hex')}`;
  private readonly queue = new SerialQueue((error) => this.report('deliver', error));
  private readonly deliveredRows = new DeliveredRows();
  private readonly abort = new AbortController();
  private readonly barriers = new Map<string, Promise<Snapshot | undefined>>();
  private connection: ListenConnection | undefined;
  private watermark: Snapshot | undefined;
  private openGate!: () => void;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private heartbeatInFlight = false;
  private earlyHeartbeatPending = false;
  private barrierSeq = 0;
  private starting: Promise<void> | undefined;
  private reconnecting: Promise<void> | undefined;
  private closing: Promise<void> | undefined;

  constructor(options: ListenerOptions) {
    super();
    this.options = resolveListenerOptions(options);
    this.pubsub = this.options.pubsub ?? new PubSub();
    this.pool = new pg.Pool({
      connectionString: this.options.connectionString,
      max: this.options.poolSize,
      application_name: `${this.options.applicationName}-query`,
      connectionTimeoutMillis: this.options.connectTimeoutMs,
      query_timeout: this.options.queryTimeoutMs,
    });
    this.pool.on('error', (error) => this.report('pool', error));
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
      const connection = this.connection;
      this.connection = undefined;
      await connection?.close();
      await this.reconnecting;
      await this.queue.idle();
      await this.pool.end();
    })();
    return this.closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  private async firstConnect(): Promise<void> {
    let opened: { connection: ListenConnection; snapshot: Snapshot };
    try {
      opened = await this.open();
    } catch (error) {
      throw new Error(`pgpulse listener: cannot LISTEN on channel "${this.options.channel}": ${(error as Error).message}`, { cause: error });
    }
    this.watermark = opened.snapshot;
    const since = this.options.since;
    if (since) this.queue.push(() => this.backfill(opened.snapshot, since));
    this.openGate();
    this.adopt(opened.connection);
  }

  private async open(): Promise<{ connection: ListenConnection; snapshot: Snapshot }> {
    let connection: ListenConnection | undefined;
    const opened = await ListenConnection.open({
      connectionString: this.options.listenConnectionString,
      applicationName: this.options.applicationName,
      connectTimeoutMs: this.options.connectTimeoutMs,
      channels: [this.options.channel, this.barrierChannel],
      onNotification: (channel, payload) => this.onNotification(channel, payload),
      onLost: (error) => {
        if (connection) this.onLost(connection, error);
      },
    });
    connection = opened.connection;
    if (this.abort.signal.aborted) {
      await connection.close();
      throw new Error('pgpulse listener: closed while connecting');
    }
    return opened;
  }

  private adopt(connection: ListenConnection): void {
    this.connection = connection;
    this.scheduleHeartbeat();
    if (connection.isLost) this.onLost(connection, new Error('pgpulse listener: the LISTEN connection broke right after LISTEN'));
  }

  private onLost(connection: ListenConnection, error: Error): void {
    if (connection !== this.connection) return;
    this.connection = undefined;
    this.barriers.clear();
    this.earlyHeartbeatPending = false;
    clearTimeout(this.heartbeatTimer);
    if (this.abort.signal.aborted) return;
    this.counters.disconnects++;
    this.emit('disconnected', { error });
    if (this.reconnecting) return;
    const loop: Promise<void> = this.reconnect().finally(() => {
      if (this.reconnecting === loop) this.reconnecting = undefined;
    });
    this.reconnecting = loop;
  }

  private async reconnect(): Promise<void> {
    const downSince = Date.now();
    for (let attempt = 1; !this.abort.signal.aborted; attempt++) {
      if (!(await this.pause(this.backoff(attempt)))) return;
      try {
        const { connection, snapshot } = await this.open();
        this.counters.reconnects++;
        this.queue.push(() => this.catchUp(snapshot));
        this.emit('reconnected', { attempts: attempt, downMs: Date.now() - downSince });
        this.reconnecting = undefined;
        this.adopt(connection);
        return;
      } catch (error) {
        if (this.abort.signal.aborted) return;
        this.report('connect', error, this.backoff(attempt + 1));
      }
    }
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
    if (channel === this.barrierChannel) {
      this.onBarrier(payload);
      return;
    }
    this.counters.notifications++;
    let message: BridgeMessage;
    try {
      message = decodeBridgeMessage(payload);
    } catch (error) {
      this.counters.malformed++;
      if (this.listenerCount('malformed') > 0) this.emit('malformed', { payload: payload.slice(0, 200), error: error as Error });
      return;
    }
    if (this.options.nodeId !== undefined && message.o === this.options.nodeId) {
      this.counters.ownOrigin += message.n;
      return;
    }
    this.queue.push(() => this.handleMessage(message));
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
      message.ids.length > 0 ? fetchByIdRanges(this.pool, message.tx, message.ids) : fetchByTx(this.pool, message.tx),
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

  /** Delivers rows of transactions the watermark does not cover, then adopts `snapshot` (taken after the new LISTEN). */
  private async catchUp(snapshot: Snapshot): Promise<void> {
    const watermark = this.watermark;
    if (!watermark) return;
    const started = performance.now();
    let cursor = { txId: watermark.xmin.toString(), id: 0 };
    let rows = 0;
    for (;;) {
      const page = await this.retrying('catch_up', () => fetchCatchUpPage(this.pool, watermark.text, cursor, this.options.catchUpPageSize));
      if (!page) return;
      rows += this.deliverAll(page);
      const last = page.at(-1);
      if (!last || page.length < this.options.catchUpPageSize) break;
      cursor = { txId: last.txId.toString(), id: last.row.id };
    }
    this.counters.caughtUp += rows;
    this.advance(snapshot);
    this.emit('caughtUp', { rows, durationMs: performance.now() - started });
  }

  /** `since` option: rows inserted since then by transactions visible in the first snapshot. */
  private async backfill(snapshot: Snapshot, since: Date): Promise<void> {
    let afterId = 0;
    for (;;) {
      const page = await this.retrying('backfill', () => fetchBackfillPage(this.pool, snapshot.text, since, afterId, this.options.catchUpPageSize));
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

  private scheduleHeartbeat(delayMs: number = this.options.heartbeatIntervalMs): void {
    if (this.abort.signal.aborted) return;
    clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = setTimeout(() => void this.heartbeat(), delayMs);
    this.heartbeatTimer.unref();
  }

  private async heartbeat(): Promise<void> {
    const connection = this.connection;
    if (!connection) return;
    if (this.heartbeatInFlight) {
      this.scheduleHeartbeat();
      return;
    }
    this.heartbeatInFlight = true;
    const token = String(++this.barrierSeq);
    const timeoutMs = this.options.heartbeatTimeoutMs;
    const timer = setTimeout(() => connection.abandon(new Error(`pgpulse listener: heartbeat not answered within ${timeoutMs} ms`)), timeoutMs);
    timer.unref();
    const pending = connection.snapshotWithBarrier(this.barrierChannel, token);
    // Registered before the barrier notification can arrive (it precedes the query's completion).
    this.barriers.set(
      token,
      pending.catch(() => undefined),
    );
    try {
      await pending;
      this.counters.heartbeats++;
    } catch (error) {
      this.barriers.delete(token);
      if (!connection.isLost) this.report('heartbeat', error);
    } finally {
      clearTimeout(timer);
      this.heartbeatInFlight = false;
      if (connection === this.connection) this.scheduleHeartbeat();
    }
  }

  private onBarrier(token: string): void {
    const pending = this.barriers.get(token);
    if (!pending) return;
    this.barriers.delete(token);
    this.queue.push(async () => {
      const snapshot = await pending;
      if (snapshot) this.advance(snapshot);
    });
  }

  /** Runs `query` until it succeeds, reporting each failure; undefined when closed meanwhile. */
  private async retrying<T>(phase: ListenerPhase, query: () => Promise<T>): Promise<T | undefined> {
    for (let attempt = 1; !this.abort.signal.aborted; attempt++) {
      try {
        return await query();
      } catch (error) {
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
    const wrapped = new Error(`pgpulse listener: ${phase.replace('_', '-')} failed: ${(error as Error)?.message ?? String(error)}`, { cause: error });
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
