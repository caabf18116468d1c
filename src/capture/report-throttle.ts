/**
 * Rate-limits reports of a repeated condition (a bad attribute or referer may
 * come with every request): at most one report per key every `intervalMs`,
 * each telling how many occurrences it stands for.
 */
export class ReportThrottle<K> {
  private readonly last = new Map<K, { at: number; unreported: number }>();

  constructor(private readonly intervalMs = 60_000) {}

  /** Counts one occurrence of `key`; returns how many to report now (this one included), or 0 when a report was made less than `intervalMs` ago. */
  occurred(key: K, now = performance.now()): number {
    const report = this.last.get(key);
    if (report && now - report.at < this.intervalMs) {
      report.unreported++;
      return 0;
    }
    this.last.set(key, { at: now, unreported: 0 });
    return (report?.unreported ?? 0) + 1;
  }
}
