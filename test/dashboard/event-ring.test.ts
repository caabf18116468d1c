import { describe, expect, it } from 'vitest';
import { EventRing } from '../../src/dashboard/event-ring.js';
import { makeLog } from '../support/fixtures.js';

const entry = (id: string, rowId?: number) => ({ id, rowId, frame: `<${id}>`, row: makeLog() });
/** The frames of a replay, with its gap flag. */
const after = (ring: EventRing, id: string) => {
  const { entries, gap } = ring.after(id);
  return { frames: entries.map((e) => e.frame), gap };
};

describe('EventRing', () => {
  it('replays the events after a held id, in order', () => {
    const ring = new EventRing(5);
    for (const id of ['a-1', 'a-2', 'a-3']) ring.push(entry(id));
    expect(after(ring, 'a-1')).toEqual({ frames: ['<a-2>', '<a-3>'], gap: false });
    expect(after(ring, 'a-3')).toEqual({ frames: [], gap: false });
  });

  it('keeps only the newest `capacity` events and reports a gap for an evicted id', () => {
    const ring = new EventRing(3);
    for (let i = 1; i <= 7; i++) ring.push(entry(`a-${i}`));
    expect(after(ring, 'a-5').frames).toEqual(['<a-6>', '<a-7>']);
    expect(after(ring, 'a-2')).toEqual({ frames: ['<a-5>', '<a-6>', '<a-7>'], gap: true });
  });

  it('replays everything for an id from another server instance (after a restart)', () => {
    const ring = new EventRing(3);
    ring.push(entry('b-1'));
    expect(after(ring, 'a-99')).toEqual({ frames: ['<b-1>'], gap: false });
  });

  it('resolves row ids by position, even when rows arrive out of id order', () => {
    const ring = new EventRing(10);
    for (const id of [10, 12, 11, 13]) ring.push(entry(String(id), id));
    expect(after(ring, '12').frames).toEqual(['<11>', '<13>']);
    // An id the ring never held: rows with a greater id.
    expect(after(ring, '9').frames).toEqual(['<10>', '<12>', '<11>', '<13>']);
    expect(after(ring, '12345').frames).toEqual([]);
  });

  it('reports a gap for a row id older than the evicted part of the ring', () => {
    const ring = new EventRing(2);
    for (const id of [1, 2, 3, 4]) ring.push(entry(String(id), id));
    expect(after(ring, '1')).toEqual({ frames: ['<3>', '<4>'], gap: true });
  });
});
