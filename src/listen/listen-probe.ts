import { randomBytes } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { PulseDatabase } from '../schema/database.js';
import { errorMessage } from '../shared/describe-error.js';

/**
 * The start-up check that LISTEN really works on the listen connection: a
 * notification sent from the query pool (another session) on a private
 * channel must arrive. Through a transaction-mode pooler (PgBouncer
 * `pool_mode=transaction`) the LISTEN session goes back to the pooler's pool
 * after each transaction, so the probe never arrives and start() fails with a
 * message that says so.
 */
export class ListenProbe {
  /** The private channel the probe is sent on (the transport listens on it too). */
  readonly channel = `pgpulse_probe_${randomBytes(8).toString('hex')}`;
  private arrived: ((payload: string) => void) | undefined;

  /** A notification on {@link channel} arrived. */
  receive(payload: string): void {
    this.arrived?.(payload);
  }

  /**
   * Sends the probe from `db` and waits up to `timeoutMs` for it. When the
   * probe cannot be sent at all (e.g. the NOTIFY queue is full) the check is
   * skipped and `onSkipped` told: the listener still delivers by catch-up.
   * Throws, naming `listenConnectionString`'s host, when it does not arrive.
   */
  async run(db: Kysely<PulseDatabase>, timeoutMs: number, listenConnectionString: string, onSkipped: (error: Error) => void): Promise<void> {
    const token = randomBytes(8).toString('hex');
    let timer: NodeJS.Timeout | undefined;
    const arrived = new Promise<boolean>((resolve) => {
      this.arrived = (payload) => payload === token && resolve(true);
      timer = setTimeout(() => resolve(false), timeoutMs);
    });
    try {
      try {
        await sql`select pg_notify(${this.channel}, ${token})`.execute(db);
      } catch (error) {
        onSkipped(new Error(`LISTEN probe not sent, check skipped: ${errorMessage(error)}`, { cause: error }));
        return;
      }
      if (await arrived) return;
      throw new Error(
        `LISTEN does not work through ${describeTarget(listenConnectionString)}: a probe notification sent from another session did not arrive within ${timeoutMs} ms. ` +
          'Is it a transaction-mode pooler (PgBouncer pool_mode=transaction)? The LISTEN connection must reach Postgres directly or through a ' +
          'session-mode pooler: pass listenConnectionString (CLI: --listen-database-url) pointing past the pooler',
      );
    } finally {
      clearTimeout(timer);
      this.arrived = undefined;
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
