-- pgpulse 0002: partition pgpulse.request_logs by UTC day, keeping existing rows
-- (ids preserved; new ids continue after the largest one).

alter table pgpulse.request_logs rename to request_logs_0001;
alter index pgpulse.request_logs_pkey rename to request_logs_0001_pkey;
alter index pgpulse.request_logs_inserted_at_idx rename to request_logs_0001_inserted_at_idx;
alter index pgpulse.request_logs_route_inserted_at_idx rename to request_logs_0001_route_inserted_at_idx;
alter index pgpulse.request_logs_tx_id_idx rename to request_logs_0001_tx_id_idx;
alter sequence pgpulse.request_logs_id_seq rename to request_logs_0001_id_seq;

-- Identity columns on partitioned tables need Postgres 17; a sequence works everywhere.
create sequence pgpulse.request_logs_id_seq as bigint;
select setval('pgpulse.request_logs_id_seq', coalesce((select max(id) from pgpulse.request_logs_0001), 0) + 1, false);

create table pgpulse.request_logs (
  id             bigint           not null default nextval('pgpulse.request_logs_id_seq'),
  request_id     text             not null,
  method         text             not null,
  path           text             not null,
  route          text,
  status_code    smallint         not null,
  duration_ms    double precision not null,
  response_bytes bigint,
  user_agent     text,
  referer        text,
  device_type    text             not null check (device_type in ('desktop', 'mobile', 'tablet', 'bot')),
  visitor_id     text,
  session_id     text,
  node_id        text             not null,
  ip             text,
  inserted_at    timestamptz      not null default now(),
  tx_id          xid8             not null default pg_current_xact_id(),
  primary key (id, inserted_at)
) partition by range (inserted_at);

alter sequence pgpulse.request_logs_id_seq owned by pgpulse.request_logs.id;

create index request_logs_inserted_at_idx on pgpulse.request_logs (inserted_at);
create index request_logs_route_inserted_at_idx on pgpulse.request_logs (route, inserted_at);
create index request_logs_tx_id_idx on pgpulse.request_logs (tx_id);

-- Safety net: a row for a day without its partition is never refused.
create table pgpulse.request_logs_default partition of pgpulse.request_logs default;

-- Advisory lock key shared by the partition functions (several nodes maintain at once).
create function pgpulse.partition_lock() returns void language sql as $$
  select pg_advisory_xact_lock(7286112002)
$$;

-- Creates the partition of one UTC day if missing, moving that day's rows out of
-- the default partition first. Returns whether it created one.
create function pgpulse.ensure_partition(day date) returns boolean language plpgsql as $$
declare
  name text := 'request_logs_p' || to_char(day, 'YYYYMMDD');
  lo timestamptz := day::timestamp at time zone 'UTC';
  hi timestamptz := (day + 1)::timestamp at time zone 'UTC';
  moved bigint;
begin
  perform pgpulse.partition_lock();
  if to_regclass(format('pgpulse.%I', name)) is not null then
    return false;
  end if;
  if to_regclass('pg_temp.pgpulse_moved_rows') is null then
    create temp table pgpulse_moved_rows (like pgpulse.request_logs) on commit drop;
  end if;
  delete from pgpulse_moved_rows;
  with gone as (delete from pgpulse.request_logs_default where inserted_at >= lo and inserted_at < hi returning *)
  insert into pgpulse_moved_rows select * from gone;
  get diagnostics moved = row_count;
  execute format('create table pgpulse.%I partition of pgpulse.request_logs for values from (%L) to (%L)', name, lo, hi);
  if moved > 0 then
    insert into pgpulse.request_logs select * from pgpulse_moved_rows;
  end if;
  return true;
end
$$;

-- Drops whole day partitions older than `cutoff` (and such rows in the default
-- partition). Returns the number of partitions dropped.
create function pgpulse.drop_partitions_before(cutoff date) returns integer language plpgsql as $$
declare
  r record;
  dropped integer := 0;
begin
  perform pgpulse.partition_lock();
  for r in
    select c.relname
    from pg_inherits i
    join pg_class c on c.oid = i.inhrelid
    where i.inhparent = 'pgpulse.request_logs'::regclass
      and c.relname ~ '^request_logs_p[0-9]{8}$'
      and to_date(substr(c.relname, 15), 'YYYYMMDD') < cutoff
  loop
    execute format('drop table pgpulse.%I', r.relname);
    dropped := dropped + 1;
  end loop;
  delete from pgpulse.request_logs_default where inserted_at < cutoff::timestamp at time zone 'UTC';
  return dropped;
end
$$;

-- Partitions for the days that have rows, plus yesterday to three days ahead, then the rows.
do $$
declare
  d date;
begin
  for d in
    select distinct (inserted_at at time zone 'UTC')::date from pgpulse.request_logs_0001
    union
    select generate_series((now() at time zone 'UTC')::date - 1, (now() at time zone 'UTC')::date + 3, interval '1 day')::date
  loop
    perform pgpulse.ensure_partition(d);
  end loop;
end
$$;

insert into pgpulse.request_logs select * from pgpulse.request_logs_0001;
drop table pgpulse.request_logs_0001;
