import type { Kysely } from 'kysely';
import { catchUpCube } from '../store/cube-catch-up.js';
import type { PulseDatabase } from '../schema/database.js';

/**
 * Runs the request cube's catch-up (the background batches that fill the
 * dashboard's read model from raw rows, one UTC day at most per transaction)
 * to completion, printing each batch on stderr as `<command>: cube built …`.
 * Interrupting it loses nothing: the next run, or any pulse, resumes where it
 * stopped. Answers what was built, `skipped` when another process builds,
 * `stopped` when `signal` ended it early.
 */
export async function buildCube(
  db: Kysely<PulseDatabase>,
  command: string,
  signal?: AbortSignal,
): Promise<{ hours: number; rows: number; skipped: boolean; stopped: boolean; pathIndexes: number }> {
  let hours = 0;
  let rows = 0;
  let pathIndexes = 0;
  for (;;) {
    const run = await catchUpCube(db, {
      signal,
      onBatch: (b) => console.error(`pgpulse ${command}: cube built ${b.from.toISOString()} – ${b.to.toISOString()} (${b.rows} rows)`),
    });
    hours += run.hours;
    rows += run.rows;
    pathIndexes += run.pathIndexes ?? 0;
    if (run.skipped) return { hours, rows, skipped: true, stopped: false, pathIndexes };
    if (signal?.aborted) return { hours, rows, skipped: false, stopped: true, pathIndexes };
    if ((run.pending === 0 || run.hours === 0) && !run.pathIndexes) return { hours, rows, skipped: false, stopped: false, pathIndexes };
  }
}
