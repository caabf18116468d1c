import { describe, expect, it } from 'vitest';
import { rollupCover, type RollupCover } from '../../src/stats/rollup-cover.js';

const at = (iso: string) => new Date(`2031-01-01T${iso}Z`);
const iso = (cover: RollupCover) => ({
  whole: cover.whole?.map((d) => d.toISOString().slice(11, 23)) ?? null,
  minutes: cover.minutes.map((i) => i.map((d) => d.toISOString().slice(11, 23))),
  raw: cover.raw.map((i) => i.map((d) => d.toISOString().slice(11, 23))),
});

describe('rollupCover', () => {
  it('reads whole hours from hour rollups, whole minutes of the edges from minute rollups, the rest raw', () => {
    expect(iso(rollupCover(at('01:37:13.500'), at('05:11:02.250'), 'hour', true))).toEqual({
      whole: ['02:00:00.000', '05:00:00.000'],
      minutes: [
        ['01:38:00.000', '02:00:00.000'],
        ['05:00:00.000', '05:11:00.000'],
      ],
      raw: [
        ['01:37:13.500', '01:38:00.000'],
        ['05:11:00.000', '05:11:02.250'],
      ],
    });
  });

  it('reads the partial hours raw when minute rollups cannot serve them (route filter)', () => {
    expect(iso(rollupCover(at('01:37:13.500'), at('05:00:00.000'), 'hour', false))).toEqual({
      whole: ['02:00:00.000', '05:00:00.000'],
      minutes: [],
      raw: [['01:37:13.500', '02:00:00.000']],
    });
  });

  it('reads a range inside one hour without hour rollups, and aligned ranges without raw rows', () => {
    expect(iso(rollupCover(at('01:10:30.000'), at('01:50:00.000'), 'hour', true))).toEqual({
      whole: null,
      minutes: [['01:11:00.000', '01:50:00.000']],
      raw: [['01:10:30.000', '01:11:00.000']],
    });
    expect(iso(rollupCover(at('01:10:00.000'), at('02:20:00.000'), 'minute', true))).toEqual({
      whole: ['01:10:00.000', '02:20:00.000'],
      minutes: [],
      raw: [],
    });
  });
});
