import { sql } from 'kysely';
import { describe, expect } from 'vitest';
import { CellAccumulator, cellColumns, cellsFromRows } from '../../src/rollups/aggregates.js';
import { cubeDimensionNames, cubeDimensions } from '../../src/rollups/cube-dimensions.js';
import { VISITOR_SAMPLE_BELOW, visitorHash } from '../../src/rollups/visitor-hash.js';
import { insertBatch } from '../../src/store/insert-batch.js';
import { longTailRows } from '../support/long-tail.js';
import { test } from '../support/migrated-database.js';

const HOUR = 3_600_000;
const from = Date.parse('2031-02-03T10:00:00Z');
const rows = longTailRows(6_000, { from, to: from + 3 * HOUR, seed: 7 });
const dims = cubeDimensionNames.map((name) => cubeDimensions[name]);

describe('cell aggregates', () => {
  test('the JS accumulator and the SQL of every aggregate agree on the same rows, per hour and combination', async ({ database }) => {
    const { db } = database;
    await insertBatch(db, rows);
    const groups = [`extract(epoch from date_trunc('hour', inserted_at, 'UTC')) * 1000`, ...dims.map((d) => d.rowSql)];
    const result = await sql<Record<string, unknown>>`${cellsFromRows(sql`select * from pgpulse.request_logs`, groups)}`.execute(db);

    const expected = new Map<string, CellAccumulator>();
    for (const row of rows) {
      const key = JSON.stringify([Math.floor(row.inserted_at.getTime() / HOUR) * HOUR, ...dims.map((d) => d.rowValue(row))]);
      let cell = expected.get(key);
      if (!cell) expected.set(key, (cell = new CellAccumulator()));
      cell.addRow(row);
    }
    expect(result.rows.length).toBe(expected.size);
    for (const row of result.rows) {
      const key = JSON.stringify([Number(row.g0), ...dims.map((d, i) => (d.column === 'status_code' ? Number(row[`g${i + 1}`]) : row[`g${i + 1}`]))]);
      const cell = expected.get(key)?.toCell();
      expect(cell, key).toBeDefined();
      for (const column of cellColumns) {
        if (column === 'duration_sum') expect(Number(row[column])).toBeCloseTo(cell![column] as number, 6);
        else expect(column === 'bytes_sum' || column === 'requests' ? Number(row[column]) : row[column], `${key} ${column}`).toEqual(cell![column]);
      }
    }
  });

  test('merging cells (SQL) equals accumulating their rows (JS)', async ({ database }) => {
    const { db } = database;
    const all = new CellAccumulator();
    for (const row of rows) all.addRow(row);
    const merged = new CellAccumulator();
    const perHour = await sql<
      Record<string, unknown>
    >`${cellsFromRows(sql`select * from pgpulse.request_logs`, [`date_trunc('hour', inserted_at, 'UTC')`])}`.execute(db);
    for (const cell of perHour.rows) merged.addCell(cell);
    expect(merged.toCell()).toEqual({ ...all.toCell(), duration_sum: merged.sums.duration_sum });
    expect(merged.sums.duration_sum).toBeCloseTo(all.sums.duration_sum!, 6);
  });

  test('visitor hashes: JS and pgpulse.visitor_hash agree, and the sample is the lowest 1/16 of the hash space', async ({ database }) => {
    const ids = ['v1', 'visitor-ü', 'x'.repeat(128), ...Array.from({ length: 200 }, (_, i) => `id${i}`)];
    const result = await sql<{ h: number }>`select pgpulse.visitor_hash(id) as h from unnest(${ids}::text[]) with ordinality u(id, n) order by n`.execute(
      database.db,
    );
    expect(result.rows.map((r) => r.h)).toEqual(ids.map(visitorHash));
    const sampled = Array.from({ length: 16_000 }, (_, i) => visitorHash(`s${i}`)).filter((h) => h < VISITOR_SAMPLE_BELOW).length;
    expect(sampled).toBeGreaterThan(850);
    expect(sampled).toBeLessThan(1_150);
  });
});
