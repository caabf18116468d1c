-- pgpulse 0001: request log storage.
create table if not exists pgpulse.request_logs (
  id             bigint generated always as identity primary key,
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
  -- Inserting transaction: lets a reconnecting listener find exactly the rows
  -- committed while it was away (pg_visible_in_snapshot).
  tx_id          xid8             not null default pg_current_xact_id()
);

create index if not exists request_logs_inserted_at_idx on pgpulse.request_logs (inserted_at);
create index if not exists request_logs_route_inserted_at_idx on pgpulse.request_logs (route, inserted_at);
create index if not exists request_logs_tx_id_idx on pgpulse.request_logs (tx_id);

-- Daily salts for visitor ids. Old rows are deleted so yesterday's hashes can no
-- longer be linked to an IP.
create table if not exists pgpulse.visitor_salts (
  day  date primary key,
  salt text not null
);
