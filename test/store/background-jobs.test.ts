import { describe, expect, inject, it } from 'vitest';
import { createPulse } from '../../src/create-pulse.js';
import { backgroundSchedule } from '../../src/store/background-jobs.js';
import { installLeakCheck, leaksOf } from '../support/leak-check.js';

const registry = installLeakCheck();

describe('the background jobs schedule is checked before the pulse opens anything', () => {
  const invalid = [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31];

  for (const name of ['cubeIntervalMs', 'maintenanceIntervalMs'] as const) {
    for (const value of invalid) {
      it(`${name}: ${value} throws a RangeError naming it, leaving no pool, client or timer`, () => {
        expect(() => createPulse({ connectionString: inject('databaseUrl'), writerMode: 'in-process', [name]: value })).toThrow(
          new RegExp(`^pgpulse: ${name} must be `),
        );
        expect(() => createPulse({ connectionString: inject('databaseUrl'), [name]: value })).toThrow(RangeError);
        expect(leaksOf(registry)).toEqual([]);
      });
    }
  }

  it('defaults: maintenance every 6 h, cube catch-up every minute; 0 and the longest timer delay are accepted', () => {
    expect(backgroundSchedule({})).toEqual({ maintenanceIntervalMs: 21_600_000, cubeIntervalMs: 60_000 });
    expect(backgroundSchedule({ maintenanceIntervalMs: 0, cubeIntervalMs: 2 ** 31 - 1 })).toEqual({
      maintenanceIntervalMs: 0,
      cubeIntervalMs: 2 ** 31 - 1,
    });
  });
});
