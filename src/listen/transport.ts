/**
 * How a listener receives notifications of committed batches. The listener's
 * exactly-once logic (snapshot watermark, catch-up) does not depend on the
 * transport: a transport only has to deliver most notifications quickly and
 * say when it lost and regained its stream. NOTIFY/LISTEN (pg-listen) is one;
 * a logical-replication transport can slot in next to it.
 */
export interface ListenTransport {
  /** Connects and starts listening; resolves once notifications flow. Rejects when this first attempt fails. */
  connect(): Promise<void>;
  /** Stops for good and releases every connection, including one being re-established. Idempotent. */
  close(): Promise<void>;
}

/** What a transport reports to the listener. */
export interface TransportHandlers {
  /** One notification (channel and raw payload). */
  onNotification(channel: string, payload: string): void;
  /**
   * The rows one committed transaction inserted, as a transport that reads
   * them from the WAL decodes them (column name to value, int8 and xid8 as text).
   */
  onRows(rows: readonly Record<string, unknown>[]): void;
  /**
   * One committed transaction inserted more rows than the transport buffers
   * (`count`); they are not handed over, the listener's catch-up delivers them.
   */
  onRowsSkipped(count: number): void;
  /**
   * A message of the stream could not be decoded (`payload` describes it).
   * The transport replaces the stream (an `onDisconnect` follows), so the
   * rows of that transaction come by catch-up.
   */
  onMalformed(payload: string, error: Error): void;
  /** The stream was lost after `connect()` resolved; the transport reconnects by itself, forever. */
  onDisconnect(error: Error): void;
  /** A reconnect attempt failed; another follows. */
  onReconnectFailed(error: Error, attempt: number): void;
  /** Notifications flow again after a loss (`attempts` tries, down `downMs`). */
  onReconnect(info: { attempts: number; downMs: number }): void;
}

/** Creates a transport for the given handlers. */
export type ListenTransportFactory = (handlers: TransportHandlers) => ListenTransport;
