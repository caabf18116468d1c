-- pgpulse 0020: the request cube (read model v2, docs/ARCHITECTURE.md "Read model").
--
-- Every low-cardinality dimension of a request (route, status code, device,
-- browser, OS, country, node, referrer host) pre-aggregated together, per hour
-- and per UTC day, so any combination of filters is a sum over the cells whose
-- key matches, never a scan of raw rows. The cells are built from raw rows by
-- a background job (src/store/cube-builder.ts), not by the writer: rows from
-- any writer, old releases included, reach the cube, and the write path pays
-- nothing. A bucket is trusted only while the requests it was built from equal
-- the requests the writer's hour rollups count for it (every release keeps
-- `pgpulse.rollups` in the insert's transaction); readers read raw rows for
-- any other hour, so answers stay exact before, during and after a backfill.
--
-- Only new, empty tables and functions: nothing to lock or rewrite, and no
-- backfill here (the builder fills the history in batches of hours).

-- One row per combination of dimension values ever seen. '' stands for null
-- (no route, no browser, no referrer...). The key of a cell is its id.
create table if not exists pgpulse.cube_keys (
  id           integer  generated always as identity primary key,
  route        text     not null,
  status_code  smallint not null,
  device       text     not null,
  browser      text     not null,
  os           text     not null,
  country      text     not null,
  node         text     not null,
  referrer     text     not null,
  unique (route, status_code, device, browser, os, country, node, referrer)
);

-- Aggregates of one (grain, bucket, key). The aggregate columns are defined
-- once in src/rollups/aggregates.ts (raw-row SQL, merge SQL, JS accumulator).
create table if not exists pgpulse.cube_cells (
  grain            text             not null check (grain in ('hour', 'day')),
  bucket           timestamptz      not null,
  key_id           integer          not null,
  requests         integer          not null,
  errors           integer          not null,
  client_errors    integer          not null,
  duration_sum     double precision not null,
  bytes_sum        bigint           not null,
  hist_idx         smallint[]       not null,
  hist_cnt         integer[]        not null,
  -- Distinct visitor hashes (pgpulse.visitor_hash), ascending; the first
  -- `visitors_sampled` of them lie in the lowest 1/16 of the hash space.
  visitors         integer[]        not null,
  visitors_sampled integer          not null,
  primary key (grain, bucket, key_id)
);

-- The same aggregates per single dimension value (dimension 'all', value '',
-- for every row): what a view without filters reads, a few hundred rows a
-- day instead of every combination.
create table if not exists pgpulse.cube_values (
  grain            text             not null check (grain in ('hour', 'day')),
  bucket           timestamptz      not null,
  dimension        text             not null,
  value            text             not null,
  requests         integer          not null,
  errors           integer          not null,
  client_errors    integer          not null,
  duration_sum     double precision not null,
  bytes_sum        bigint           not null,
  hist_idx         smallint[]       not null,
  hist_cnt         integer[]        not null,
  visitors         integer[]        not null,
  visitors_sampled integer          not null,
  primary key (grain, bucket, dimension, value)
);

-- Top lists of high-cardinality keys (paths, 404 paths, referrer URLs) per
-- hour and day: the first keys of each list by requests (src/rollups/top-keys.ts),
-- exact, and one row with key '' holding the requests of the rest (`requests`)
-- and the largest count among them (`dropped_max`): how much a key left out of
-- a bucket can miss, summed over the buckets of a range, is the bound shown.
create table if not exists pgpulse.cube_top_keys (
  grain       text        not null check (grain in ('hour', 'day')),
  bucket      timestamptz not null,
  list        text        not null check (list in ('path', 'not_found', 'referrer_url')),
  key         text        not null,
  requests    integer     not null,
  dropped_max integer     not null default 0,
  primary key (grain, bucket, list, key)
);

-- What each built bucket was built from: `requests` of raw rows, and
-- `rollup_requests` of the writer's hour rollups in the same snapshot. Readers
-- trust a bucket's cells only while `requests` equals what the rollups count
-- now; the builder rebuilds a bucket when the rollups moved since its build.
create table if not exists pgpulse.cube_buckets (
  grain           text        not null check (grain in ('hour', 'day')),
  bucket          timestamptz not null,
  requests        bigint      not null,
  rollup_requests bigint      not null,
  built_at        timestamptz not null default now(),
  primary key (grain, bucket)
);

-- A visitor id as a 32-bit hash (first 4 bytes of its MD5, signed), as
-- src/rollups/visitor-hash.ts computes it.
create or replace function pgpulse.visitor_hash(visitor text) returns integer language sql immutable parallel safe as $$
  select ('x' || substr(md5(visitor), 1, 8))::bit(32)::integer
$$;
