import type { FilterableRow } from '../stats/row-matches-filters.js';

/** One serialised SSE event kept for resume. */
export interface RingEntry {
  /** The SSE `id:` sent with the event. */
  id: string;
  /** The row id, when the event carried one. */
  rowId: number | undefined;
  /** The complete SSE frame. */
  frame: string;
  /** The row, for clients that filter the stream. */
  row: FilterableRow;
}

/** What a reconnecting client missed: events to replay, and whether older ones were already evicted. */
export interface Replay {
  entries: RingEntry[];
  /** True when the client missed events the ring no longer holds. */
  gap: boolean;
}

/**
 * Fixed-capacity ring of the newest SSE events (O(1) push, no copying), used
 * to resume a stream from `Last-Event-ID`.
 */
export class EventRing {
  private readonly entries: (RingEntry | undefined)[];
  /** Events ever pushed; the newest is at `(pushed - 1) % capacity`. */
  private pushed = 0;

  constructor(readonly capacity: number) {
    this.entries = new Array<RingEntry | undefined>(capacity);
  }

  push(entry: RingEntry): void {
    this.entries[this.pushed % this.capacity] = entry;
    this.pushed++;
  }

  /**
   * Events after the one with id `lastEventId`. An id not in the ring is
   * resolved as a row id (events with a greater row id) when numeric, else as
   * an id from before this ring began (a restarted server, an evicted event):
   * everything held is replayed.
   */
  after(lastEventId: string): Replay {
    const held = this.held();
    const index = held.findLastIndex((entry) => entry.id === lastEventId);
    if (index >= 0) return { entries: held.slice(index + 1), gap: false };
    const evicted = this.pushed > this.capacity;
    if (/^\d+$/.test(lastEventId)) {
      const last = Number(lastEventId);
      const newer = held.filter((e) => e.rowId !== undefined && e.rowId > last);
      const oldest = held[0]?.rowId;
      return { entries: newer, gap: evicted && oldest !== undefined && oldest > last + 1 };
    }
    return { entries: held, gap: evicted };
  }

  /** Held entries, oldest first. */
  private held(): RingEntry[] {
    const count = Math.min(this.pushed, this.capacity);
    const start = this.pushed - count;
    const out: RingEntry[] = [];
    for (let i = start; i < this.pushed; i++) out.push(this.entries[i % this.capacity]!);
    return out;
  }
}
