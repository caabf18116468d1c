-- pgpulse 0040: alert rules, their state and history (src/alerts/).
--
-- Online: new tables only, nothing existing is read or rewritten; lock_timeout
-- bounds any wait on the catalog (migrate() retries as a whole).
set local lock_timeout = '5s';

-- Who evaluates the rules: one row per lease name, held by one process until
-- expires_at (renewed at every evaluation; another process takes it over once
-- it has expired, e.g. after its holder was killed).
create table if not exists pgpulse.alert_leases (
  name       text        primary key,
  holder     text        not null,
  expires_at timestamptz not null
);

-- The rules as the evaluating process last defined them (for dashboards and
-- the CLI, which do not see the app's code).
create table if not exists pgpulse.alert_rules (
  name       text        primary key,
  kind       text        not null,
  definition jsonb       not null check (jsonb_typeof(definition) = 'object'),
  updated_at timestamptz not null default now()
);

-- Current state of each alert: a rule over one subject ('' for the whole app,
-- a route for per-route rules, a fingerprint for newErrorGroup). A transition
-- is a conditional update of this row, so two evaluators can never both fire
-- (or both resolve) the same alert.
create table if not exists pgpulse.alert_states (
  rule     text             not null,
  subject  text             not null,
  state    text             not null check (state in ('firing', 'ok')),
  since    timestamptz      not null,
  event_id bigint,
  primary key (rule, subject)
);

-- History: one row per transition (fired, resolved), and the outbox of the
-- notifications: notified_at (every target answered 2xx) or notify_error (a
-- target gave up) is set once delivered.
create table if not exists pgpulse.alert_events (
  id           bigint           generated always as identity primary key,
  rule         text             not null,
  subject      text             not null,
  kind         text             not null,
  state        text             not null check (state in ('firing', 'resolved')),
  value        double precision,
  threshold    double precision,
  requests     bigint,
  release      text,
  evaluator    text             not null,
  detail       jsonb            not null default '{}' check (jsonb_typeof(detail) = 'object'),
  at           timestamptz      not null default now(),
  notified_at  timestamptz,
  notify_error text
);
create index if not exists alert_events_rule_idx on pgpulse.alert_events (rule, subject, id);
create index if not exists alert_events_pending_idx on pgpulse.alert_events (id) where notified_at is null and notify_error is null;

-- Releases: when each node first ran each release (the `release` option). A
-- release's deploy time is its earliest first_seen; the current release is
-- the one deployed last.
create table if not exists pgpulse.releases (
  release    text        not null check (length(release) between 1 and 200),
  node_id    text        not null,
  first_seen timestamptz not null default now(),
  primary key (release, node_id)
);
create index if not exists releases_first_seen_idx on pgpulse.releases (first_seen);
