import type { Kysely } from 'kysely';
import { latestEventId } from '../alerts/alert-store.js';
import type { PulseDatabase } from '../schema/database.js';
import type { SseHub } from './sse-hub.js';

/** What the watch reports to its dashboard. */
export interface AlertWatchCounters {
  /** Checks of `pgpulse.alert_events` that failed (e.g. a database not migrated to 0040, or down). */
  alertWatchErrors: number;
}

/**
 * Pushes alert transitions to open pages: while at least one stream client is
 * connected, reads the newest `pgpulse.alert_events` id every `intervalMs`
 * (one indexed `max(id)`, whichever process stored the transition) and, when
 * it moved (or on the first check), sends every client an `event: alert` frame
 * carrying that id. The
 * page then reloads `/api/alerts` at once instead of at its next refresh.
 * Checks never overlap; the timer is unref'd. Returns the stop function.
 */
export function watchAlerts(db: Kysely<PulseDatabase>, hub: SseHub, intervalMs: number, counters: AlertWatchCounters): () => void {
  let seen: string | null | undefined;
  let checking = false;
  let stopped = false;
  const check = async (): Promise<void> => {
    if (checking || stopped || hub.stats.clients === 0) return;
    checking = true;
    try {
      const latest = await latestEventId(db);
      // The first check after start also notifies: a page may have loaded its alerts just before a transition.
      if (latest !== seen) hub.notify('alert', { id: latest });
      seen = latest;
    } catch {
      counters.alertWatchErrors++;
    } finally {
      checking = false;
    }
  };
  const timer = setInterval(() => void check(), intervalMs);
  timer.unref();
  return () => {
    stopped = true;
    clearInterval(timer);
  };
}
