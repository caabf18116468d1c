import { sql, type QueryExecutorProvider } from 'kysely';

/** Whether Postgres answered a trivial query, how fast, or why not. */
export interface PostgresHealth {
  ok: boolean;
  /** Round trip of `select 1`, in milliseconds; null when it failed. */
  latencyMs: number | null;
  /** Why it failed (message of the error, or the timeout). */
  error?: string;
}

/**
 * Runs `select 1` on `db`, giving up after `timeoutMs` (a stopped or
 * unreachable server, or a pool with no free connection, answers "not ok"
 * instead of hanging a readiness probe).
 */
export async function checkPostgres(db: QueryExecutorProvider, timeoutMs: number): Promise<PostgresHealth> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    timer.unref();
  });
  try {
    await Promise.race([sql`select 1`.execute(db), timeout]);
    return { ok: true, latencyMs: performance.now() - started };
  } catch (error) {
    return { ok: false, latencyMs: null, error: error instanceof Error && error.message ? error.message : String(error) };
  } finally {
    clearTimeout(timer);
  }
}
