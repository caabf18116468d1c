import { sql, type Transaction } from 'kysely';
import type { PulseDatabase } from '../schema/database.js';
import type { ErrorGroupRow, ErrorRollupRow } from '../rollups/error-rollup.js';

/** An error group a batch's transaction created (the fingerprint was new to `pgpulse.error_groups`). */
export interface NewErrorGroup {
  fingerprint: string;
  class: string;
  message: string;
  /** Route of its first occurrence, '' when unknown. */
  route: string;
  firstSeen: Date;
  requestId: string;
}

/**
 * Adds a batch's errors to `pgpulse.error_groups` (insert, `on conflict do
 * nothing`: a group is never updated, so no node waits on another's row lock
 * for it) and `pgpulse.error_rollups` (upserts adding counts on `shard`, like
 * the request rollups). Runs in the insert's transaction, so the counts never
 * disagree with committed rows. Keys are written in sorted order (no
 * deadlocks between concurrent batches). Answers the groups this transaction created.
 */
export async function writeErrors(
  trx: Transaction<PulseDatabase>,
  batch: { groups: readonly ErrorGroupRow[]; rollups: readonly ErrorRollupRow[] },
  shard: number,
): Promise<NewErrorGroup[]> {
  const { groups, rollups } = batch;
  if (groups.length === 0) return [];
  const created = await sql<{ fingerprint: string }>`
    insert into pgpulse.error_groups (fingerprint, class, message, frames, first_seen, first_request_id)
    select fingerprint, class, message, frames, first_seen, first_request_id
    from unnest(${groups.map((g) => g.fingerprint)}::text[], ${groups.map((g) => g.class)}::text[], ${groups.map((g) => g.message)}::text[],
                ${groups.map((g) => JSON.stringify(g.frames))}::jsonb[], ${groups.map((g) => g.firstSeen.toISOString())}::timestamptz[],
                ${groups.map((g) => g.firstRequestId)}::text[]) with ordinality as u(fingerprint, class, message, frames, first_seen, first_request_id, n)
    order by n
    on conflict (fingerprint) do nothing
    returning fingerprint`.execute(trx);
  await sql`
    insert into pgpulse.error_rollups as r (grain, bucket, fingerprint, route, shard, count, last_seen, last_request_id, last_trace_id, last_message, last_status)
    select grain, bucket, fingerprint, route, ${shard}::smallint, count, last_seen, last_request_id, last_trace_id, last_message, last_status
    from unnest(${rollups.map((r) => r.grain)}::text[], ${rollups.map((r) => new Date(r.bucket).toISOString())}::timestamptz[],
                ${rollups.map((r) => r.fingerprint)}::text[], ${rollups.map((r) => r.route)}::text[], ${rollups.map((r) => r.count)}::int[],
                ${rollups.map((r) => r.lastSeen.toISOString())}::timestamptz[], ${rollups.map((r) => r.lastRequestId)}::text[],
                ${rollups.map((r) => r.lastTraceId)}::text[], ${rollups.map((r) => r.lastMessage)}::text[], ${rollups.map((r) => r.lastStatus)}::int2[])
      with ordinality as u(grain, bucket, fingerprint, route, count, last_seen, last_request_id, last_trace_id, last_message, last_status, n)
    order by n
    on conflict (grain, bucket, fingerprint, route, shard) do update set
      count = r.count + excluded.count,
      last_seen = greatest(r.last_seen, excluded.last_seen),
      last_request_id = case when excluded.last_seen >= r.last_seen then excluded.last_request_id else r.last_request_id end,
      last_trace_id = case when excluded.last_seen >= r.last_seen then excluded.last_trace_id else r.last_trace_id end,
      last_message = case when excluded.last_seen >= r.last_seen then excluded.last_message else r.last_message end,
      last_status = case when excluded.last_seen >= r.last_seen then excluded.last_status else r.last_status end`.execute(trx);
  const fresh = new Set(created.rows.map((r) => r.fingerprint));
  return groups
    .filter((g) => fresh.has(g.fingerprint))
    .map((g) => ({ fingerprint: g.fingerprint, class: g.class, message: g.message, route: g.route, firstSeen: g.firstSeen, requestId: g.firstRequestId }));
}
