/**
 * Write-side aggregation of a batch's errors (rows with an `error_fingerprint`):
 * one group per fingerprint (its first occurrence in the batch, for
 * `pgpulse.error_groups`) and counts per (grain, bucket, fingerprint, route)
 * with the latest request of each (for `pgpulse.error_rollups`). No reads.
 */
import type { RequestLog, RequestError } from '../schema/request-log.js';
import { HOUR_MS, MINUTE_MS } from '../shared/time.js';

/** Grains of `pgpulse.error_rollups`, like the request rollups'. */
export const errorGrains = { minute: MINUTE_MS, hour: HOUR_MS } as const;
export type ErrorGrain = keyof typeof errorGrains;

/** The first occurrence of a fingerprint in a batch. */
export interface ErrorGroupRow {
  fingerprint: string;
  class: string;
  message: string;
  frames: readonly string[];
  firstSeen: Date;
  firstRequestId: string;
  /** Route of that occurrence ('' when unknown). */
  route: string;
}

/** Occurrences of one fingerprint on one route in one bucket, with the latest of them. */
export interface ErrorRollupRow {
  grain: ErrorGrain;
  /** Bucket start, epoch ms (UTC). */
  bucket: number;
  fingerprint: string;
  /** Route pattern, '' when unknown. */
  route: string;
  count: number;
  lastSeen: Date;
  lastRequestId: string;
  lastTraceId: string | null;
  lastMessage: string;
  lastStatus: number;
}

/** A row that carries an error. */
type ErrorRow = RequestLog & { error_fingerprint: string; error: RequestError };

function hasError(row: RequestLog): row is ErrorRow {
  return row.error_fingerprint !== null && row.error !== null;
}

/** The groups and rollup rows of a batch, each list sorted by its key (so concurrent upserts lock rows in one order). */
export function errorBatch(rows: readonly RequestLog[]): { groups: ErrorGroupRow[]; rollups: ErrorRollupRow[] } {
  const groups = new Map<string, ErrorGroupRow>();
  const rollups = new Map<string, ErrorRollupRow>();
  for (const row of rows) {
    if (!hasError(row)) continue;
    const route = row.route ?? '';
    const at = row.inserted_at;
    const group = groups.get(row.error_fingerprint);
    if (!group || at < group.firstSeen) {
      groups.set(row.error_fingerprint, {
        fingerprint: row.error_fingerprint,
        class: row.error.class,
        message: row.error.message,
        frames: row.error.frames,
        firstSeen: at,
        firstRequestId: row.request_id,
        route,
      });
    }
    for (const [grain, size] of Object.entries(errorGrains) as [ErrorGrain, number][]) {
      const bucket = Math.floor(at.getTime() / size) * size;
      const key = `${grain}\u0000${bucket}\u0000${row.error_fingerprint}\u0000${route}`;
      const rollup = rollups.get(key);
      if (!rollup) {
        rollups.set(key, {
          grain,
          bucket,
          fingerprint: row.error_fingerprint,
          route,
          count: 1,
          lastSeen: at,
          lastRequestId: row.request_id,
          lastTraceId: row.trace_id,
          lastMessage: row.error.message,
          lastStatus: row.status_code,
        });
        continue;
      }
      rollup.count++;
      if (at >= rollup.lastSeen) {
        rollup.lastSeen = at;
        rollup.lastRequestId = row.request_id;
        rollup.lastTraceId = row.trace_id;
        rollup.lastMessage = row.error.message;
        rollup.lastStatus = row.status_code;
      }
    }
  }
  const byKey = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return {
    groups: [...groups.values()].sort((a, b) => byKey(a.fingerprint, b.fingerprint)),
    rollups: [...rollups.entries()].sort(([a], [b]) => byKey(a, b)).map(([, r]) => r),
  };
}
