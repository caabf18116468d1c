-- pgpulse 0004: create day partitions without stalling the app.
--
-- `create table … partition of` takes an ACCESS EXCLUSIVE lock on
-- pgpulse.request_logs: while it waits for any open reader (a dashboard query,
-- a listener catch-up), every insert queues behind it. Creating the table on
-- its own and then attaching it only takes SHARE UPDATE EXCLUSIVE on the parent,
-- which inserts and reads do not wait for (the default partition is still
-- locked exclusively for the moment of the attach). lock_timeout bounds the wait
-- for that lock; a timed-out run is retried at the next maintenance (partitions
-- are made days ahead, and the default partition catches rows meanwhile).
create or replace function pgpulse.ensure_partition(day date) returns boolean
language plpgsql
set lock_timeout = '5s'
as $$
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
  -- Same columns, defaults and CHECK constraints; the attach adds the parent's indexes.
  execute format('create table pgpulse.%I (like pgpulse.request_logs including defaults including constraints)', name);
  execute format('alter table pgpulse.request_logs attach partition pgpulse.%I for values from (%L) to (%L)', name, lo, hi);
  if moved > 0 then
    insert into pgpulse.request_logs select * from pgpulse_moved_rows;
  end if;
  return true;
end
$$;
