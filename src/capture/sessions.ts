import { randomUUID } from 'node:crypto';

/**
 * Groups a visitor's requests into sessions that end after `idleMs` without a
 * request. Kept in memory per process, bounded to `maxVisitors` (least recently
 * seen evicted first), so sessions are per node.
 */
export class Sessions {
  private readonly seen = new Map<string, { id: string; lastSeen: number }>();

  constructor(
    private readonly idleMs = 30 * 60_000,
    private readonly maxVisitors = 100_000,
  ) {}

  /** Session id for a visitor at `now` (epoch ms); null without a visitor. */
  sessionFor(visitorId: string | null, now: number): string | null {
    if (!visitorId) return null;
    const current = this.seen.get(visitorId);
    if (current && now - current.lastSeen <= this.idleMs) {
      current.lastSeen = now;
      this.seen.delete(visitorId);
      this.seen.set(visitorId, current);
      return current.id;
    }
    const session = { id: randomUUID(), lastSeen: now };
    this.seen.delete(visitorId);
    this.seen.set(visitorId, session);
    if (this.seen.size > this.maxVisitors) {
      const oldest = this.seen.keys().next().value;
      if (oldest !== undefined) this.seen.delete(oldest);
    }
    return session.id;
  }
}
