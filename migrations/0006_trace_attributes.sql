-- pgpulse 0006: trace correlation and custom attributes.
--
-- trace_id    W3C trace id of the request (32 lower-case hex digits): the active
--             OpenTelemetry span's, else the `traceparent` header's; null otherwise
-- span_id     the span id that came with it (16 lower-case hex digits)
-- attributes  the app's own flat attributes (`attributes` capture option), a
--             jsonb object of at most 16 string/number/boolean values; null when
--             the app sets none
--
-- Nullable columns without a default: adding them rewrites nothing, and every
-- partition (existing or made later with `like pgpulse.request_logs`) gets them.
-- Their CHECK constraints are added NOT VALID: existing rows are all null, so
-- there is nothing to check, and a validating scan of a large table would hold
-- its lock (and every insert) for the length of the scan. New rows are checked.
alter table pgpulse.request_logs add column if not exists trace_id text;
alter table pgpulse.request_logs add column if not exists span_id text;
alter table pgpulse.request_logs add column if not exists attributes jsonb;

do $$
begin
  if not exists (select 1 from pg_constraint where conname = 'request_logs_trace_id_hex' and conrelid = 'pgpulse.request_logs'::regclass) then
    alter table pgpulse.request_logs add constraint request_logs_trace_id_hex check (trace_id ~ '^[0-9a-f]{32}$') not valid;
  end if;
  if not exists (select 1 from pg_constraint where conname = 'request_logs_span_id_hex' and conrelid = 'pgpulse.request_logs'::regclass) then
    alter table pgpulse.request_logs add constraint request_logs_span_id_hex check (span_id ~ '^[0-9a-f]{16}$') not valid;
  end if;
  if not exists (select 1 from pg_constraint where conname = 'request_logs_attributes_object' and conrelid = 'pgpulse.request_logs'::regclass) then
    alter table pgpulse.request_logs add constraint request_logs_attributes_object check (jsonb_typeof(attributes) = 'object') not valid;
  end if;
end
$$;

-- Attribute filters (`attr.plan=pro` in the stats API) are containment tests,
-- `attributes @> '{"plan":"pro"}'`, which a GIN index with jsonb_path_ops answers
-- (smaller and faster for @> than the default jsonb_ops). Partial: rows without
-- attributes are not indexed, so apps that set none pay nothing per insert.
-- Created on the partitioned parent, so every partition has it (and partitions
-- attached later get it at attach).
create index if not exists request_logs_attributes_idx on pgpulse.request_logs using gin (attributes jsonb_path_ops) where attributes is not null;
