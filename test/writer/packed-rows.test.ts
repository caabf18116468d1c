import { describe, expect, it } from 'vitest';
import { packRows, unpackRows } from '../../src/writer/packed-rows.js';
import { requestLogColumnNames } from '../../src/schema/columns.js';
import { makeLog } from '../support/fixtures.js';

/** The column-wise form RequestLogs take to the writer worker. */
describe('packed rows', () => {
  const roundTrip = (rows: Parameters<typeof packRows>[0]) => unpackRows(structuredClone(packRows(rows)!));

  it('gives back every row exactly: nulls, empty and repeated texts, numbers, timestamps, columns in table order', () => {
    const rows = [
      makeLog({
        referer: 'https://example.com/a',
        referer_host: 'example.com',
        ip: '10.0.0.1',
        country: 'DE',
        response_bytes: 0,
        attributes: { plan: 'pro', seats: 3 },
      }),
      makeLog({ route: null, response_bytes: null, user_agent: null, visitor_id: null, session_id: null }),
      makeLog({ route: '', path: '/ünïcödé\t\n\\', user_agent: 'same', referer: 'same', duration_ms: 0.125, status_code: 599 }),
      makeLog({ user_agent: 'same', referer: 'same', inserted_at: new Date(0) }),
      makeLog({ user_agent: '', referer: null, response_bytes: Number.MAX_SAFE_INTEGER }),
    ];
    const back = roundTrip(rows);
    expect(back).toEqual(rows);
    for (const row of back) expect(Object.keys(row)).toEqual(requestLogColumnNames);
    expect(roundTrip([])).toEqual([]);
  });

  it('repeats no text equal to the row before it in the same column', () => {
    const rows = Array.from({ length: 100 }, () => makeLog());
    const packed = packRows(rows)!;
    // request ids differ per row; every other text column is the same in all rows.
    expect(packed.texts).toBeLessThan(100 + requestLogColumnNames.length);
    expect(unpackRows(packed)).toEqual(rows);
  });

  it('refuses a batch it cannot carry exactly, so the caller sends it as objects', () => {
    expect(packRows([makeLog(), makeLog({ path: '/a\u0000b' })])).toBeUndefined();
    expect(packRows([makeLog({ inserted_at: new Date(Number.NaN) })])).toBeUndefined();
    expect(packRows([makeLog({ duration_ms: '3' as unknown as number })])).toBeUndefined();
    expect(packRows([makeLog({ method: 7 as unknown as string })])).toBeUndefined();
  });

  it('throws on a malformed batch instead of shifting values between columns', () => {
    const packed = packRows([makeLog(), makeLog()])!;
    expect(() => unpackRows({ ...packed, text: `${packed.text}\u0000extra` })).toThrow(/malformed/);
    expect(() => unpackRows({ ...packed, numbers: packed.numbers.slice(1) })).toThrow(/malformed/);
  });
});
