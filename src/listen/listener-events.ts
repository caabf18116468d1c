/**
 * The listener's public shape apart from its lifecycle: its counters, its
 * error phases and its events. Below `listener.ts` and `events/`, so both can
 * import these types without a cycle.
 */

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

/** The counters a listener keeps itself (`tracked` and `queued` are read off its state). */
export type ListenerCounters = Omit<ListenerStats, 'tracked' | 'queued'>;

/** A listener's counters, all 0. */
export function newListenerCounters(): ListenerCounters {
  return {
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
}
