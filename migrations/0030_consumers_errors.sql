-- pgpulse 0030: who called (consumers) and what broke (errors, grouped).
--
-- request_logs gains five nullable columns without defaults (adding them
-- rewrites nothing and takes its ACCESS EXCLUSIVE lock only for the catalog
-- update; every partition, existing or made later with `like`, gets them):
--   consumer_id, consumer_name, consumer_group   the `consumer` capture option
--   error_fingerprint   16 hex digits grouping the request's exception
--   error               its class, bounded message and top stack frames (jsonb)
-- Nodes of the previous release keep writing: their inserts name their own
-- columns, and the new ones stay null. CHECK constraints are NOT VALID (the
-- existing rows are all null; a validating scan would hold inserts back).
alter table pgpulse.request_logs add column if not exists consumer_id text;
alter table pgpulse.request_logs add column if not exists consumer_name text;
alter table pgpulse.request_logs add column if not exists consumer_group text;
alter table pgpulse.request_logs add column if not exists error_fingerprint text;
alter table pgpulse.request_logs add column if not exists error jsonb;

do $$
begin
  if not exists (select 1 from pg_constraint where conname = 'request_logs_error_fingerprint_hex' and conrelid = 'pgpulse.request_logs'::regclass) then
    alter table pgpulse.request_logs add constraint request_logs_error_fingerprint_hex check (error_fingerprint ~ '^[0-9a-f]{16}$') not valid;
  end if;
  if not exists (select 1 from pg_constraint where conname = 'request_logs_error_object' and conrelid = 'pgpulse.request_logs'::regclass) then
    alter table pgpulse.request_logs add constraint request_logs_error_object check (jsonb_typeof(error) = 'object') not valid;
  end if;
end
$$;

-- One row per error group: what the group is (class, a message and the top
-- frames of its first occurrence) and when it was first seen. Inserted by the
-- writer in the batch's transaction with `on conflict do nothing` (never
-- updated, so no node waits for another's row lock): a row it inserted is a new
-- group (the `errorGroupNew` event, counted once across every node).
create table if not exists pgpulse.error_groups (
  fingerprint      text        primary key check (fingerprint ~ '^[0-9a-f]{16}$'),
  class            text        not null,
  message          text        not null,
  frames           jsonb       not null,
  first_seen       timestamptz not null,
  first_request_id text        not null
);

-- Occurrences per (grain, bucket, fingerprint, route, shard), maintained by the
-- writer in the insert's transaction like pgpulse.rollups (same grains, same
-- shard, so nodes do not serialise on a hot error): counts over time, the
-- routes an error hits, and the latest request of each (its id and start time
-- find the row through the inserted_at index). Readers add shards up.
create table if not exists pgpulse.error_rollups (
  grain           text        not null check (grain in ('minute', 'hour')),
  bucket          timestamptz not null,
  fingerprint     text        not null,
  route           text        not null,
  shard           smallint    not null default 0,
  count           integer     not null,
  last_seen       timestamptz not null,
  last_request_id text        not null,
  last_trace_id   text,
  last_message    text        not null,
  last_status     smallint    not null,
  primary key (grain, bucket, fingerprint, route, shard)
);
create index if not exists error_rollups_fingerprint_idx on pgpulse.error_rollups (fingerprint, grain, bucket);

-- Errors grouped by fingerprint, as the issue tracker of a team reads them:
-- first seen, last seen, count, routes hit and the last request (ids and time).
create or replace view pgpulse.errors as
select g.fingerprint, g.class, g.message, g.frames, g.first_seen,
       max(r.last_seen) as last_seen,
       coalesce(sum(r.count), 0)::bigint as count,
       coalesce(array_agg(distinct r.route) filter (where r.route is not null), '{}') as routes,
       (array_agg(r.last_request_id order by r.last_seen desc))[1] as last_request_id,
       (array_agg(r.last_trace_id order by r.last_seen desc))[1] as last_trace_id,
       (array_agg(r.last_message order by r.last_seen desc))[1] as last_message
from pgpulse.error_groups g
left join pgpulse.error_rollups r on r.fingerprint = g.fingerprint and r.grain = 'hour'
group by g.fingerprint;
