/**
 * Counts failed token attempts per client address in fixed windows; once a
 * client reaches `maxFailures` in a window it is refused until the window ends.
 * Memory is bounded: at most `maxClients` addresses are tracked (oldest first out).
 */
export class FailureLimiter {
  private readonly windows = new Map<string, { start: number; failures: number }>();

  constructor(
    private readonly maxFailures = 10,
    private readonly windowMs = 60_000,
    private readonly maxClients = 10_000,
  ) {}

  /** Milliseconds until `client` may try again, or 0 when it may try now. */
  retryAfterMs(client: string, now = Date.now()): number {
    const entry = this.windows.get(client);
    if (!entry) return 0;
    if (now - entry.start >= this.windowMs) {
      this.windows.delete(client);
      return 0;
    }
    return entry.failures >= this.maxFailures ? entry.start + this.windowMs - now : 0;
  }

  /** Records a failed attempt of `client`. */
  fail(client: string, now = Date.now()): void {
    const entry = this.windows.get(client);
    if (entry && now - entry.start < this.windowMs) {
      entry.failures++;
      return;
    }
    this.windows.delete(client);
    if (this.windows.size >= this.maxClients) this.windows.delete(this.windows.keys().next().value!);
    this.windows.set(client, { start: now, failures: 1 });
  }
}
