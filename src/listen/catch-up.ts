import type { Kysely } from 'kysely';
import { fromRowTuple, type BridgeMessage } from '../bridge/message.js';
import type { PubSub } from '../pubsub.js';
import type { StoredRequestLog } from '../schema/request-log.js';
import type { PulseDatabase } from '../schema/database.js';
import { fetchBackfillPage, fetchByIdRanges, fetchByIds, fetchByTx, fetchCatchUpKeys, type TxRow } from '../store/fetch-rows.js';
import { DeliveredRows } from './delivered-rows.js';
import type { CatchUpReason, ListenerCounters, ListenerPhase } from './listener-events.js';
import { coversSnapshot, isVisibleInSnapshot, type Snapshot } from '../store/snapshot.js';

/** What {@link CatchUp} needs of its listener. */
export interface CatchUpContext {
  db: Kysely<PulseDatabase>;
  pubsub: PubSub;
  counters: ListenerCounters;
  /** Rows of this origin are not delivered (the listener's `nodeId` option). */
  nodeId: string | undefined;
  catchUpPageSize: number;
  maxTrackedRows: number;
  signal: AbortSignal;
  /** `pg_current_snapshot()` on the query pool. */
  snapshot(): Promise<Snapshot>;
  /** Runs `query` until it succeeds, reporting each failure; undefined when closed meanwhile. */
  retrying<T>(phase: ListenerPhase, query: () => Promise<T>): Promise<T | undefined>;
  /** The dedupe set outgrew `maxTrackedRows`: a catch-up should run soon. */
  onTrackedOverflow(): void;
  /** The watermark moved. */
  onAdvance(): void;
}

/**
 * The exactly-once part of a listener: the watermark, the rows delivered
 * since it, and the catch-up that moves it.
 *
 * The watermark is a `pg_snapshot` such that every row of a transaction
 * visible in it has been delivered. Each heartbeat (and each reconnect) runs
 * a catch-up: take a fresh snapshot, deliver the rows of committed
 * transactions the watermark does not cover, adopt the snapshot as the new
 * watermark. Notifications of transactions visible in the watermark are
 * skipped; the others are delivered at once and their row ids remembered
 * until the watermark covers them, so the catch-up does not deliver them again.
 */
export class CatchUp {
  private watermark: Snapshot | undefined;
  /** Snapshot of the previous heartbeat: the next periodic catch-up covers it. */
  private previousSnapshot: Snapshot | undefined;
  private readonly deliveredRows = new DeliveredRows();

  constructor(private readonly context: CatchUpContext) {}

  /** Row ids currently held for dedupe. */
  get tracked(): number {
    return this.deliveredRows.size;
  }

  /** Takes the first watermark (once notifications flow: every later transaction is notified or caught up). */
  async begin(): Promise<Snapshot> {
    this.watermark = await this.context.snapshot();
    return this.watermark;
  }

  /** The rows of a bridge message (inline, or fetched by id). */
  async handleMessage(message: BridgeMessage): Promise<void> {
    if (!this.watermark) return;
    const { counters } = this.context;
    const txId = BigInt(message.tx);
    if (isVisibleInSnapshot(txId, this.watermark)) {
      counters.duplicatesSkipped += message.n;
      return;
    }
    if ('r' in message) {
      for (const tuple of message.r) this.deliver(txId, fromRowTuple(tuple, message.o));
      return;
    }
    const { db } = this.context;
    const rows = await this.context.retrying('fetch', () =>
      message.ids.length > 0 ? fetchByIdRanges(db, message.tx, message.ids) : fetchByTx(db, message.tx),
    );
    if (!rows) return;
    counters.fetched += rows.length;
    if (rows.length < message.n) counters.missing += message.n - rows.length;
    for (const { row } of rows) this.deliver(txId, row);
  }

  /** A row of a committed transaction, from the WAL. */
  deliverStreamed(txId: bigint, row: StoredRequestLog): void {
    if (!this.watermark) return;
    const { counters, nodeId } = this.context;
    if (isVisibleInSnapshot(txId, this.watermark)) counters.duplicatesSkipped++;
    else if (nodeId !== undefined && row.node_id === nodeId) counters.ownOrigin++;
    else this.deliver(txId, row);
  }

  /**
   * Delivers the committed rows of transactions the watermark does not cover
   * and that were not delivered yet, then moves the watermark. Reads keys
   * first, so rows that came by notification are not fetched again. A
   * failure leaves the watermark where it was (and is thrown): the next
   * heartbeat tries again and nothing is lost. Resolves with the rows it
   * delivered; counts them even when it fails part-way.
   *
   * After a reconnect it covers everything committed so far (the snapshot
   * taken before reading becomes the watermark). The periodic one lags by one
   * heartbeat: it covers only transactions visible in the snapshot taken at
   * the previous heartbeat, so their notifications had a whole interval to
   * arrive and the catch-up does not race them; a row committed without a
   * notification is delivered within about two heartbeat intervals.
   */
  async run(reason: CatchUpReason): Promise<number> {
    const watermark = this.watermark;
    if (!watermark || this.context.signal.aborted) return 0;
    const { counters } = this.context;
    const tally = { rows: 0 };
    try {
      const snapshot = await this.context.snapshot();
      const upTo = reason === 'periodic' ? this.previousSnapshot : snapshot;
      if (reason === 'periodic') this.previousSnapshot = snapshot;
      if (upTo && upTo.text !== watermark.text) {
        await this.deliverUncovered(watermark, reason === 'periodic' ? upTo : undefined, tally);
        this.advance(upTo);
      }
      if (reason === 'periodic') counters.heartbeats++;
      return tally.rows;
    } finally {
      counters.caughtUp += tally.rows;
      if (reason === 'periodic') counters.caughtUpPeriodic += tally.rows;
    }
  }

  /** `since` option: rows inserted since then by transactions visible in the first snapshot. */
  async backfill(snapshot: Snapshot, since: Date): Promise<void> {
    const { db, catchUpPageSize } = this.context;
    let afterId = 0;
    for (;;) {
      const page = await this.context.retrying('backfill', () => fetchBackfillPage(db, snapshot.text, since, afterId, catchUpPageSize));
      if (!page) return;
      this.context.counters.backfilled += this.deliverAll(page);
      const last = page.at(-1);
      if (!last || page.length < catchUpPageSize) return;
      afterId = last.row.id;
    }
  }

  /**
   * Pages through the keys of rows not covered by `watermark` (and visible in
   * `upTo`), delivering those not delivered yet; adds them to `tally.rows` page
   * by page, so a failure part-way still counts what was delivered.
   */
  private async deliverUncovered(watermark: Snapshot, upTo: Snapshot | undefined, tally: { rows: number }): Promise<void> {
    const { db, nodeId, catchUpPageSize } = this.context;
    let cursor = { txId: '0', id: 0 };
    for (;;) {
      const keys = await fetchCatchUpKeys(db, watermark, upTo, cursor, catchUpPageSize);
      const missing = keys.filter((k) => !this.deliveredRows.has(k.txId, k.id) && (nodeId === undefined || k.nodeId !== nodeId));
      if (missing.length > 0)
        tally.rows += this.deliverAll(
          await fetchByIds(
            db,
            missing.map((k) => k.id),
          ),
        );
      const last = keys.at(-1);
      if (!last || keys.length < catchUpPageSize) return;
      cursor = { txId: last.txId.toString(), id: last.id };
    }
  }

  private deliverAll(rows: readonly TxRow[]): number {
    const { counters, nodeId } = this.context;
    let delivered = 0;
    for (const { txId, row } of rows) {
      if (nodeId !== undefined && row.node_id === nodeId) counters.ownOrigin++;
      else if (this.deliver(txId, row)) delivered++;
    }
    return delivered;
  }

  /** Publishes a row unless already delivered; true when published. */
  private deliver(txId: bigint, row: StoredRequestLog): boolean {
    const { counters } = this.context;
    if (this.deliveredRows.has(txId, row.id)) {
      counters.duplicatesSkipped++;
      return false;
    }
    this.deliveredRows.add(txId, row.id);
    counters.delivered++;
    this.context.pubsub.publish(row);
    if (this.deliveredRows.size > this.context.maxTrackedRows) this.context.onTrackedOverflow();
    return true;
  }

  /**
   * Makes `snapshot` the watermark, unless it is older than the watermark (a
   * periodic catch-up's snapshot from before a reconnect's): moving back would
   * make rows already delivered, and pruned from the dedupe set, look new.
   */
  private advance(snapshot: Snapshot): void {
    if (this.watermark && !coversSnapshot(snapshot, this.watermark)) return;
    this.watermark = snapshot;
    this.deliveredRows.prune(snapshot);
    this.context.onAdvance();
  }
}
