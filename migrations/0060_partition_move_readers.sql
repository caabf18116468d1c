-- pgpulse 0060: readers never miss the rows a new day partition takes from the default partition.
--
-- Rows of a day without a partition land in pgpulse.request_logs_default;
-- maintenance (pgpulse.ensure_partition) later gives the day its partition and
-- moves them there. Since 0004 it attaches under SHARE UPDATE EXCLUSIVE on the
-- parent, which readers do not wait for: a query planned before the attach
-- commits knows only the default partition, waits for its lock, and then scans
-- it with a fresh snapshot, emptied of the moved rows, and never the new
-- partition: it counts none of them (a dashboard's filtered breakdowns came
-- back empty while its rollup totals were right). When there are rows to move,
-- the function now also takes ACCESS EXCLUSIVE on the parent before the attach:
-- it waits for the readers that started before it (they still see the rows in
-- the default partition), and later ones plan after its commit (they see the
-- new partition). Inserts queue behind that lock, so it is taken only for moves
-- of at most 20,000 rows (well under a second) and waited for at most 500 ms; a
-- timed-out run is rolled back (the rows stay in the default partition, still
-- read) and retried at the next maintenance. Days with no rows in the default
-- partition (partitions made ahead, the usual case) and larger moves (after days
-- without maintenance) keep the lighter locks of 0004: a query running beside
-- such a move may miss the rows being moved, once.
--
-- Online: replaces a function, no table lock.
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
  if moved > 0 and moved <= 20000 then
    -- Before the attach (a reader holding the parent would otherwise wait for the default partition's lock: a
    -- deadlock). Inserts queue behind this lock: it waits at most 500 ms for it, and only for a few rows, whose
    -- move takes well under a second (larger moves, after days without maintenance, keep 0004's locks).
    perform set_config('lock_timeout', '500ms', true);
    lock table pgpulse.request_logs in access exclusive mode;
    perform set_config('lock_timeout', '5s', true);
  end if;
  -- Same columns, defaults and CHECK constraints; the attach adds the parent's indexes.
  execute format('create table pgpulse.%I (like pgpulse.request_logs including defaults including constraints)', name);
  execute format('alter table pgpulse.request_logs attach partition pgpulse.%I for values from (%L) to (%L)', name, lo, hi);
  if moved > 0 then
    insert into pgpulse.request_logs select * from pgpulse_moved_rows;
  end if;
  return true;
end
$$;
