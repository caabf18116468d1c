-- pgpulse 0050: consumers in the read model (docs/ARCHITECTURE.md "Read model").
--
-- pgpulse.consumer_cells holds the cube's aggregates (src/rollups/aggregates.ts)
-- per (grain, bucket, consumer, cube key): per consumer requests, errors,
-- latency histogram, bytes and visitors, under any filter the cube answers
-- (route, status, device...), and when each was last seen (with its latest
-- name and group). Rows without a consumer have no cells. Built by the cube
-- builder from the rows it stages anyway (src/store/cube-builder.ts), never by
-- the writer.
--
-- Online: a new, empty table, and a nullable column without default on
-- pgpulse.cube_buckets (no rewrite). A bucket whose `consumer_requests` is null
-- was built without consumer cells (before this migration, or by a node of the
-- previous release rebuilding it during a rolling deploy): readers then read
-- its consumers from raw rows and the catch-up rebuilds it. Buckets that ended
-- before migration 0030 (the consumer columns) have no consumer rows: they are
-- marked built (0) here, so only the hours since then are rebuilt, newest
-- first, in the builder's usual resumable batches. The migrator bounds the
-- wait for the locks (lock_timeout, retried; src/store/migrate.ts).

create table if not exists pgpulse.consumer_cells (
  grain            text             not null check (grain in ('hour', 'day')),
  bucket           timestamptz      not null,
  consumer_id      text             not null,
  key_id           integer          not null,
  requests         integer          not null,
  errors           integer          not null,
  client_errors    integer          not null,
  duration_sum     double precision not null,
  bytes_sum        bigint           not null,
  hist_idx         smallint[]       not null,
  hist_cnt         integer[]        not null,
  visitors         integer[]        not null,
  visitors_sampled integer          not null,
  -- The latest row of the cell: when, and the consumer's name and group then.
  last_seen        timestamptz      not null,
  consumer_name    text,
  consumer_group   text,
  primary key (grain, bucket, consumer_id, key_id)
);
-- One consumer over a range (its page, the consumer filter).
create index if not exists consumer_cells_consumer_idx on pgpulse.consumer_cells (consumer_id, grain, bucket);

alter table pgpulse.cube_buckets add column if not exists consumer_requests bigint;

update pgpulse.cube_buckets b set consumer_requests = 0
where b.consumer_requests is null
  and b.bucket + case b.grain when 'hour' then interval '1 hour' else interval '1 day' end
      <= coalesce((select applied_at from pgpulse.migrations where name = '0030_consumers_errors.sql'), now());
