import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminQuery, createTestDatabase, migrateDatabase, type TestDatabase } from '../support/database.js';

/** Database-wide objects outside any schema's tables: what `migrate` may add besides its schema. */
const FOOTPRINT = `
  select 'schema ' || nspname as object from pg_namespace where nspname not like 'pg\\_%' and nspname <> 'information_schema'
  union all select 'publication ' || pubname from pg_publication
  union all select 'extension ' || extname from pg_extension
  union all select 'event trigger ' || evtname from pg_event_trigger
  union all select 'subscription ' || subname from pg_subscription where subdbid = (select oid from pg_database where datname = current_database())
  union all select 'object outside pgpulse ' || c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = 'public'
  union all select 'function outside pgpulse ' || p.proname from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = 'public'
  order by 1`;

/** The README's claim: pgpulse adds a `pgpulse` schema and one publication (for the `wal` transport), nothing else. */
describe('what migrate adds to a database', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => {
    await database?.drop();
  });

  it('a pgpulse schema and the pgpulse_request_logs publication, nothing else', async () => {
    const objects = async () => (await adminQuery(database.url, FOOTPRINT)).rows.map((r: { object: string }) => r.object);
    const before = await objects();
    await migrateDatabase(database.url);
    const added = (await objects()).filter((o) => !before.includes(o));
    expect(added).toEqual(['publication pgpulse_request_logs', 'schema pgpulse']);
  });
});
