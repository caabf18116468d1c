import { readFileSync } from 'node:fs';
import pg from 'pg';

/** Clock ticks per second of /proc/<pid>/stat on Linux. */
const TICKS_PER_SECOND = 100;

function cpuMsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
}

/**
 * CPU time (ms) used so far by the other backends connected to the database
 * of `url` (e.g. a writer's pool), read from /proc. NaN when Postgres is not on
 * this machine or /proc is unreadable.
 */
export async function backendCpuMs(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ pid: number }>('select pid from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()');
    return rows.reduce((sum, r) => sum + cpuMsOf(r.pid), 0);
  } catch {
    return Number.NaN;
  } finally {
    await client.end();
  }
}
