-- pgpulse 0005: columns derived by capture v2.
--
-- referer_host  lower-case host of the referer, for grouping (the referer itself
--               is stored without query string and fragment by default)
-- browser, os   low-cardinality families from the user agent (bowser), null for bots
-- country       ISO 3166-1 alpha-2 from a CDN header, only with trustCountryHeaders
--
-- Nullable columns without a default: adding them to the partitioned table
-- rewrites nothing, and every partition (existing or made later with
-- `like pgpulse.request_logs`) gets them.
alter table pgpulse.request_logs add column if not exists referer_host text;
alter table pgpulse.request_logs add column if not exists browser text;
alter table pgpulse.request_logs add column if not exists os text;
alter table pgpulse.request_logs add column if not exists country text;

do $$
begin
  if not exists (select 1 from pg_constraint where conname = 'request_logs_country_iso' and conrelid = 'pgpulse.request_logs'::regclass) then
    alter table pgpulse.request_logs add constraint request_logs_country_iso check (country ~ '^[A-Z]{2}$');
  end if;
end
$$;
