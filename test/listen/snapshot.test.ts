import { describe, expect, it } from 'vitest';
import { DeliveredRows } from '../../src/listen/delivered-rows.js';
import { coversSnapshot, isVisibleInSnapshot, parseSnapshot } from '../../src/store/snapshot.js';

describe('pg_snapshot parsing and visibility', () => {
  it('parses xmin, xmax and the in-progress list', () => {
    const s = parseSnapshot('10:20:12,15');
    expect(s.xmin).toBe(10n);
    expect(s.xmax).toBe(20n);
    expect([...s.xip]).toEqual([12n, 15n]);
    expect(parseSnapshot('7:7:').xip.size).toBe(0);
  });

  it('rejects anything else', () => {
    for (const bad of ['', 'garbage', '1:2', '1:2:x', '-1:2:']) expect(() => parseSnapshot(bad)).toThrow(/not a pg_snapshot/);
  });

  it('follows pg_visible_in_snapshot', () => {
    const s = parseSnapshot('10:20:12,15');
    expect(isVisibleInSnapshot(9n, s)).toBe(true);
    expect(isVisibleInSnapshot(10n, s)).toBe(true);
    expect(isVisibleInSnapshot(12n, s)).toBe(false);
    expect(isVisibleInSnapshot(19n, s)).toBe(true);
    expect(isVisibleInSnapshot(20n, s)).toBe(false);
    expect(isVisibleInSnapshot(2n ** 40n, s)).toBe(false);
  });
});

describe('DeliveredRows', () => {
  it('remembers rows by transaction and forgets those the watermark covers', () => {
    const rows = new DeliveredRows();
    rows.add(12n, 1);
    rows.add(12n, 1);
    rows.add(21n, 2);
    expect(rows.size).toBe(2);
    expect(rows.has(12n, 1)).toBe(true);
    expect(rows.has(21n, 1)).toBe(false);
    rows.prune(parseSnapshot('13:21:'));
    expect(rows.has(12n, 1)).toBe(false);
    expect(rows.has(21n, 2)).toBe(true);
    expect(rows.size).toBe(1);
  });
});

describe('coversSnapshot', () => {
  it('is true only when every transaction visible in the older snapshot is visible in the newer', () => {
    expect(coversSnapshot(parseSnapshot('10:20:'), parseSnapshot('10:20:12,15'))).toBe(true);
    expect(coversSnapshot(parseSnapshot('10:20:12,15'), parseSnapshot('10:20:'))).toBe(false);
    expect(coversSnapshot(parseSnapshot('10:20:15'), parseSnapshot('10:20:12,15'))).toBe(true);
    expect(coversSnapshot(parseSnapshot('12:25:12,21'), parseSnapshot('10:20:12,15'))).toBe(true);
    expect(coversSnapshot(parseSnapshot('12:25:12,15'), parseSnapshot('10:20:12'))).toBe(false);
    expect(coversSnapshot(parseSnapshot('10:19:'), parseSnapshot('10:20:'))).toBe(false);
    expect(coversSnapshot(parseSnapshot('10:20:12'), parseSnapshot('10:20:12'))).toBe(true);
  });
});
