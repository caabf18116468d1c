// @module-tag server (runs on every CI server: see the tag in vitest.config.ts)
import { sql } from 'kysely';
import { describe, expect } from 'vitest';
import { generatedColumns, pgTypes, requestLogColumnNames, requestLogColumns } from '../../src/schema/columns.js';
import { test } from '../support/migrated-database.js';

/**
 * The column list and the migrations must describe the same table: adding a
 * column to one but not the other fails here.
 */
describe('request column list', () => {
  test('matches pgpulse.request_logs after migrating: names in order, types and nullability', async ({ database }) => {
    const result = await sql<{ column_name: string; data_type: string; is_nullable: 'YES' | 'NO' }>`
      select column_name, data_type, is_nullable from information_schema.columns
      where table_schema = 'pgpulse' and table_name = 'request_logs' order by ordinal_position`.execute(database.db);
    const table = result.rows.filter((c) => !(c.column_name in generatedColumns));
    expect(
      result.rows
        .map((c) => c.column_name)
        .filter((name) => name in generatedColumns)
        .sort(),
    ).toEqual(Object.keys(generatedColumns).sort());
    expect(table.map((c) => c.column_name)).toEqual(requestLogColumnNames);
    for (const column of table) {
      const listed = requestLogColumns[column.column_name as keyof typeof requestLogColumns];
      expect({ column: column.column_name, type: column.data_type, nullable: column.is_nullable === 'YES' }).toEqual({
        column: column.column_name,
        type: pgTypes[listed.type].informationSchema,
        nullable: listed.nullable,
      });
    }
  });

  test('has a partition-safe shape: every day partition has the same columns', async ({ database }) => {
    const result = await sql<{ table_name: string; columns: string }>`
      select table_name, string_agg(column_name, ',' order by ordinal_position) as columns from information_schema.columns
      where table_schema = 'pgpulse' and table_name like 'request_logs%' group by table_name`.execute(database.db);
    const parent = result.rows.find((r) => r.table_name === 'request_logs')!.columns;
    for (const row of result.rows) expect({ table: row.table_name, columns: row.columns }).toEqual({ table: row.table_name, columns: parent });
  });
});
