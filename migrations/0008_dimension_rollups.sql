-- pgpulse 0008: rollups per dimension value, so breakdowns and single-value
-- filters over long ranges are exact without reading raw rows.
--
-- One row per (grain, bucket, dimension, value, shard), maintained by the writer
-- in the insert's transaction (same shard as its `pgpulse.rollups` rows), for
-- the low-cardinality dimensions:
--   browser, os, country   the capture v2 columns (rows where they are null are not counted)
--   device                 device_type
--   node                   node_id
-- Each row carries requests, status classes, duration sum and the latency
-- histogram, so a filter on one value answers totals, series and percentiles
-- from here. Visitors are not kept per value (a 1 KiB sketch per row and its
-- merge on every upsert would cost more than the rest of the row): breakdowns
-- give visitors from raw rows only. Referrer hosts are not a dimension here:
-- their number is unbounded (every spam referrer would add a row per bucket),
-- so they stay estimated from a sample on rollup ranges.
-- Retention deletes these rows with the others; rebuild_rollups rebuilds them.
create table if not exists pgpulse.dimension_rollups (
  grain        text             not null check (grain in ('minute', 'hour')),
  bucket       timestamptz      not null,
  dimension    text             not null check (dimension in ('browser', 'os', 'country', 'device', 'node')),
  value        text             not null,
  shard        smallint         not null default 0,
  requests     integer          not null,
  s1           integer          not null,
  s2           integer          not null,
  s3           integer          not null,
  s4           integer          not null,
  s5           integer          not null,
  duration_sum double precision not null,
  hist_idx     smallint[]       not null,
  hist_cnt     integer[]        not null,
  primary key (grain, bucket, dimension, value, shard)
);

-- Builds (or rebuilds) every rollup of [lo, hi) from raw rows, e.g. after a bulk
-- load or deletes by hand (0003's function, plus the dimension rollups).
create or replace function pgpulse.rebuild_rollups(lo timestamptz, hi timestamptz) returns void language plpgsql as $$
declare
  g text;
begin
  foreach g in array array['minute', 'hour'] loop
    delete from pgpulse.rollups where grain = g and bucket >= date_trunc(g, lo, 'UTC') and bucket < hi;
    delete from pgpulse.visitor_sketches where grain = g and bucket >= date_trunc(g, lo, 'UTC') and bucket < hi;
    delete from pgpulse.dimension_rollups where grain = g and bucket >= date_trunc(g, lo, 'UTC') and bucket < hi;
    insert into pgpulse.rollups (grain, bucket, route, requests, s1, s2, s3, s4, s5, duration_sum, desktop, mobile, tablet, bot, hist_idx, hist_cnt)
    select g, b, r, sum(n)::int, sum(s1)::int, sum(s2)::int, sum(s3)::int, sum(s4)::int, sum(s5)::int, sum(ds),
           sum(dd)::int, sum(dm)::int, sum(dt)::int, sum(db)::int, array_agg(lb order by lb), array_agg(n::int order by lb)
    from (
      select b, case when grouping(rt) = 1 then chr(1) || 'all' else rt end as r, lb, count(*) as n,
             count(*) filter (where status_code < 200) as s1, count(*) filter (where status_code between 200 and 299) as s2,
             count(*) filter (where status_code between 300 and 399) as s3, count(*) filter (where status_code between 400 and 499) as s4,
             count(*) filter (where status_code >= 500) as s5, sum(duration_ms) as ds,
             count(*) filter (where device_type = 'desktop') as dd, count(*) filter (where device_type = 'mobile') as dm,
             count(*) filter (where device_type = 'tablet') as dt, count(*) filter (where device_type = 'bot') as db
      from (
        -- minute rollups only for all routes together (chr(1) || 'all'); hour rollups for each route too
        select date_trunc(g, inserted_at, 'UTC') as b, coalesce(route, '') as rt, pgpulse.latency_bucket(duration_ms) as lb,
               status_code, duration_ms, device_type
        from pgpulse.request_logs
        where inserted_at >= date_trunc(g, lo, 'UTC') and inserted_at < hi
      ) raw
      group by grouping sets ((b, lb), (b, rt, lb))
    ) per_bucket
    where g = 'hour' or r = chr(1) || 'all'
    group by b, r;
    insert into pgpulse.dimension_rollups (grain, bucket, dimension, value, requests, s1, s2, s3, s4, s5, duration_sum, hist_idx, hist_cnt)
    select g, b, d, v, sum(n)::int, sum(s1)::int, sum(s2)::int, sum(s3)::int, sum(s4)::int, sum(s5)::int, sum(ds),
           array_agg(lb order by lb), array_agg(n::int order by lb)
    from (
      -- one pass, one grouping set per dimension; in each set the other dimensions read as null
      select b, case when grouping(browser) = 0 then 'browser' when grouping(os) = 0 then 'os' when grouping(country) = 0 then 'country'
                     when grouping(device_type) = 0 then 'device' else 'node' end as d,
             coalesce(browser, os, country, device_type, node_id) as v, lb, count(*) as n,
             count(*) filter (where status_code < 200) as s1, count(*) filter (where status_code between 200 and 299) as s2,
             count(*) filter (where status_code between 300 and 399) as s3, count(*) filter (where status_code between 400 and 499) as s4,
             count(*) filter (where status_code >= 500) as s5, sum(duration_ms) as ds
      from (
        select date_trunc(g, inserted_at, 'UTC') as b, pgpulse.latency_bucket(duration_ms) as lb, status_code, duration_ms,
               browser, os, country, device_type, node_id
        from pgpulse.request_logs
        where inserted_at >= date_trunc(g, lo, 'UTC') and inserted_at < hi
      ) raw
      group by grouping sets ((b, lb, browser), (b, lb, os), (b, lb, country), (b, lb, device_type), (b, lb, node_id))
    ) per_value
    where v is not null
    group by b, d, v;
    insert into pgpulse.visitor_sketches (grain, bucket, hll)
    with pairs as (
      select distinct date_trunc(g, inserted_at, 'UTC') as b, visitor_id
      from pgpulse.request_logs
      where inserted_at >= date_trunc(g, lo, 'UTC') and inserted_at < hi and visitor_id is not null),
    visitors as (
      -- one MD5 per distinct visitor, not per row
      select d.visitor_id, h.register, h.rank from (select distinct visitor_id from pairs) d, pgpulse.hll_register(d.visitor_id) h)
    select g, p.b, pgpulse.hll_agg(v.register, v.rank)
    from pairs p join visitors v using (visitor_id)
    group by p.b;
  end loop;
end
$$;

-- Rows stored before this migration get their dimension rollups now (every
-- rollup of their hours is rebuilt; writers of other nodes wait on the lock,
-- as with `pgpulse rebuild-rollups`, so none of their rows is counted twice or lost).
do $$
declare
  lo timestamptz;
  hi timestamptz;
begin
  select min(inserted_at), max(inserted_at) into lo, hi from pgpulse.request_logs;
  if lo is not null then
    lock table pgpulse.rollups, pgpulse.visitor_sketches, pgpulse.dimension_rollups in share row exclusive mode;
    select min(inserted_at), max(inserted_at) into lo, hi from pgpulse.request_logs;
    perform pgpulse.rebuild_rollups(date_trunc('hour', lo, 'UTC'), date_trunc('hour', hi, 'UTC') + interval '1 hour');
  end if;
end
$$;
