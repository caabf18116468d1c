-- pgpulse 0003: rollups so dashboard stats over long ranges read a few thousand
-- rows instead of millions. Maintained by the writer in the insert's transaction.

-- Per minute and per hour ('grain'), per route ('' when unknown).
create table pgpulse.rollups (
  grain        text             not null check (grain in ('minute', 'hour')),
  bucket       timestamptz      not null,
  route        text             not null,
  requests     integer          not null,
  s1           integer          not null,
  s2           integer          not null,
  s3           integer          not null,
  s4           integer          not null,
  s5           integer          not null,
  duration_sum double precision not null,
  desktop      integer          not null,
  mobile       integer          not null,
  tablet       integer          not null,
  bot          integer          not null,
  -- Sparse latency histogram: bucket i covers [0.01·1.04^i, 0.01·1.04^(i+1)) ms.
  hist_idx     smallint[]       not null,
  hist_cnt     integer[]        not null,
  primary key (grain, bucket, route)
);

-- HyperLogLog sketch (1024 one-byte registers) of visitor ids per minute and hour.
create table pgpulse.visitor_sketches (
  grain  text        not null check (grain in ('minute', 'hour')),
  bucket timestamptz not null,
  hll    bytea       not null,
  primary key (grain, bucket)
);

create function pgpulse.hist_merge(ai smallint[], ac integer[], bi smallint[], bc integer[], out idx smallint[], out cnt integer[])
language sql immutable as $$
  select array_agg(i order by i), array_agg(c order by i)
  from (select i, sum(c)::integer as c from (select * from unnest(ai, ac) union all select * from unnest(bi, bc)) u(i, c) group by i) t
$$;

create function pgpulse.hll_merge(a bytea, b bytea) returns bytea language plpgsql immutable as $$
declare
  r bytea := a;
begin
  for i in 0 .. length(b) - 1 loop
    if get_byte(b, i) > get_byte(r, i) then
      r := set_byte(r, i, get_byte(b, i));
    end if;
  end loop;
  return r;
end
$$;

-- Sets one register if the rank is higher (state function of hll_agg).
create function pgpulse.hll_set(state bytea, register integer, rank integer) returns bytea language sql immutable as $$
  select case when get_byte(state, register) < rank then set_byte(state, register, rank) else state end
$$;

-- Builds a sketch from (register, rank) pairs.
do $$
begin
  execute format('create aggregate pgpulse.hll_agg(integer, integer) (sfunc = pgpulse.hll_set, stype = bytea, initcond = %L)', '\x' || repeat('00', 1024));
end
$$;

-- Latency bucket of a duration, as computed by the writer (src/rollups/latency-histogram.ts).
create function pgpulse.latency_bucket(ms double precision) returns smallint language sql immutable as $$
  select case when ms > 0.01 then least(700, floor(ln(ms / 0.01) / ln(1.04)))::smallint else 0::smallint end
$$;

-- HLL register (0–1023) and rank (1–32) of a visitor id, as computed by the writer.
create function pgpulse.hll_register(visitor text, out register integer, out rank integer) language sql immutable as $$
  select (get_byte(h, 0) << 2) | (get_byte(h, 1) >> 6),
         case when w = 0 then 32 else position('1' in w::bit(64)::text) - 32 end
  from (select decode(md5(visitor), 'hex') as h) d,
       lateral (select ((get_byte(h, 4)::bigint << 24) | (get_byte(h, 5) << 16) | (get_byte(h, 6) << 8) | get_byte(h, 7)) as w) x
$$;

-- Builds (or rebuilds) the rollups of [lo, hi) from raw rows, e.g. after a bulk load.
create function pgpulse.rebuild_rollups(lo timestamptz, hi timestamptz) returns void language plpgsql as $$
declare
  g text;
begin
  foreach g in array array['minute', 'hour'] loop
    delete from pgpulse.rollups where grain = g and bucket >= date_trunc(g, lo, 'UTC') and bucket < hi;
    delete from pgpulse.visitor_sketches where grain = g and bucket >= date_trunc(g, lo, 'UTC') and bucket < hi;
    insert into pgpulse.rollups
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
    insert into pgpulse.visitor_sketches
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

select pgpulse.rebuild_rollups('-infinity', 'infinity')
where exists (select 1 from pgpulse.request_logs);
