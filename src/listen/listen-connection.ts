import pg from 'pg';
import { parseSnapshot, type Snapshot } from './snapshot.js';

export interface ListenConnectionOptions {
  connectionString: string;
  applicationName: string;
  connectTimeoutMs: number;
  /** Channels to LISTEN on. */
  channels: readonly string[];
  onNotification: (channel: string, payload: string) => void;
  /** Called once when the connection breaks (never after `close()`). */
  onLost: (error: Error) => void;
}

/** Quotes a channel name as an SQL identifier (channels are case-sensitive). */
export function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * One dedicated Postgres session holding LISTEN. It reports its own loss
 * exactly once, whether the server terminated it, the network dropped or a
 * heartbeat timed out.
 */
export class ListenConnection {
  private lost = false;
  private ending = false;
  private readonly client: pg.Client;

  private constructor(private readonly options: ListenConnectionOptions) {
    this.client = new pg.Client({
      connectionString: options.connectionString,
      application_name: options.applicationName,
      connectionTimeoutMillis: options.connectTimeoutMs,
      keepAlive: true,
    });
    this.client.on('error', (error) => this.markLost(error));
    this.client.on('end', () => this.markLost(new Error('pgpulse listener: the LISTEN connection ended')));
    this.client.on('notification', (message) => {
      if (!this.lost) this.options.onNotification(message.channel, message.payload ?? '');
    });
  }

  /**
   * Connects, LISTENs on every channel and returns the connection with a
   * snapshot taken after LISTEN became active: every transaction not visible
   * in it will be notified on this connection.
   */
  static async open(options: ListenConnectionOptions): Promise<{ connection: ListenConnection; snapshot: Snapshot }> {
    const connection = new ListenConnection(options);
    try {
      await connection.client.connect();
      await connection.client.query(options.channels.map((c) => `listen ${quoteIdentifier(c)}`).join('; '));
      const snapshot = await connection.snapshot();
      if (connection.lost) throw new Error('pgpulse listener: the LISTEN connection broke while starting');
      return { connection, snapshot };
    } catch (error) {
      await connection.close();
      throw error;
    }
  }

  get isLost(): boolean {
    return this.lost;
  }

  /** `pg_current_snapshot()` on this session. */
  async snapshot(): Promise<Snapshot> {
    const result = await this.client.query<{ snapshot: string }>('select pg_current_snapshot()::text as snapshot');
    return parseSnapshot(result.rows[0]!.snapshot);
  }

  /**
   * Takes a snapshot and, in the same transaction, notifies `barrierChannel`
   * with `token`. The barrier notification is queued after the notifications
   * of every transaction visible in the snapshot, so once it arrives all of
   * them have arrived too.
   */
  async snapshotWithBarrier(barrierChannel: string, token: string): Promise<Snapshot> {
    const result = await this.client.query<{ snapshot: string }>('select pg_current_snapshot()::text as snapshot, pg_notify($1, $2)', [barrierChannel, token]);
    return parseSnapshot(result.rows[0]!.snapshot);
  }

  /** Treats the connection as broken (e.g. a heartbeat timed out) and tears it down. */
  abandon(error: Error): void {
    this.markLost(error);
  }

  /** Closes without reporting a loss; waits up to 1 s for a clean goodbye. Idempotent. */
  async close(): Promise<void> {
    this.lost = true;
    if (this.ending) return;
    this.ending = true;
    const timer = setTimeout(() => this.destroySocket(), 1_000);
    timer.unref();
    await this.client.end().catch(() => {});
    clearTimeout(timer);
  }

  private markLost(error: Error): void {
    if (!this.lost) {
      this.lost = true;
      this.options.onLost(error);
    }
    if (this.ending) return;
    this.ending = true;
    this.client.end().catch(() => {});
    // end() waits for the server; a dead socket must not keep the process alive.
    this.destroySocket();
  }

  private destroySocket(): void {
    const stream = (this.client as unknown as { connection?: { stream?: { destroy?: () => void } } }).connection?.stream;
    stream?.destroy?.();
  }
}
