-- Publication for the `wal` listener transport (logical replication, pgoutput):
-- inserts into pgpulse.request_logs, published as the partitioned parent so a
-- listener sees one relation whatever the day partition.
--
-- Creating a publication needs CREATE on the database and ownership of the
-- table. A role without them still migrates: the publication is then missing,
-- the `wal` transport says so at start (naming the statement to run), and the
-- NOTIFY bridge works as before. A publication without a subscriber costs
-- nothing: the WAL is written the same way, and no slot holds it back.
do $$
begin
  if not exists (select 1 from pg_publication where pubname = 'pgpulse_request_logs') then
    begin
      create publication pgpulse_request_logs for table pgpulse.request_logs
        with (publish = 'insert', publish_via_partition_root = true);
    exception when insufficient_privilege then
      raise notice 'pgpulse: publication pgpulse_request_logs not created (%); the wal listener transport needs it', sqlerrm;
    end;
  end if;
end
$$;
