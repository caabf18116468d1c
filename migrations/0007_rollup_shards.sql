-- pgpulse 0007: rollups that do not serialise nodes, and one index less per row.
--
-- 1. Sharded rollup rows. Every writer used to upsert the same few minute/hour
--    rows, so concurrent batches (from several nodes, or one node's writes in
--    flight) queued on their row locks. Rows now carry a small `shard`; each
--    write transaction claims a shard no other open transaction holds
--    (pgpulse.claim_rollup_shard, a transaction-scoped advisory lock) and
--    upserts only that shard's rows, so batches never wait on each other.
--    Readers add the shards of a bucket up (counts and histograms add, HLL
--    sketches merge by register maximum), so stats are unchanged. Existing
--    rows become shard 0.
-- 2. The (route, inserted_at) index on request_logs is dropped: route-filtered
--    stats over long ranges read hour rollups, and the raw edges and short
--    ranges find their rows through the inserted_at index. One index less to
--    maintain for every stored row (test/store/read-path-indexes.test.ts shows
--    every read still uses an index).

alter table pgpulse.rollups add column if not exists shard smallint not null default 0;
alter table pgpulse.visitor_sketches add column if not exists shard smallint not null default 0;

do $$
begin
  if not exists (
    select 1 from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any (i.indkey)
    where i.indrelid = 'pgpulse.rollups'::regclass and i.indisprimary and a.attname = 'shard'
  ) then
    alter table pgpulse.rollups drop constraint rollups_pkey;
    alter table pgpulse.rollups add constraint rollups_pkey primary key (grain, bucket, route, shard);
  end if;
  if not exists (
    select 1 from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any (i.indkey)
    where i.indrelid = 'pgpulse.visitor_sketches'::regclass and i.indisprimary and a.attname = 'shard'
  ) then
    alter table pgpulse.visitor_sketches drop constraint visitor_sketches_pkey;
    alter table pgpulse.visitor_sketches add constraint visitor_sketches_pkey primary key (grain, bucket, shard);
  end if;
end
$$;

-- Claims a rollup shard (0–31) for the calling transaction: the first one from
-- `preferred` on whose advisory lock no other transaction sits. When all 32 are
-- held it answers `preferred` unlocked (its row locks then order the writers,
-- as before sharding). The lock ends with the transaction.
create or replace function pgpulse.claim_rollup_shard(preferred integer) returns smallint language sql volatile as $$
  select coalesce(
    (select s from (select ((preferred + g) % 32)::smallint as s from generate_series(0, 31) g) c
      where pg_try_advisory_xact_lock(728611207, s) limit 1),
    (preferred % 32)::smallint)
$$;

drop index if exists pgpulse.request_logs_route_inserted_at_idx;
