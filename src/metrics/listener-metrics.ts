import type { PubSub } from '../pubsub.js';
import type { PgpulseMetrics } from './pgpulse-metrics.js';

/** The parts of a bridge Listener its metrics read. */
export interface ObservedListener {
  readonly stats: { delivered: number; caughtUp: number; caughtUpPeriodic: number; reconnects: number; disconnects: number; malformed: number };
  readonly pubsub: PubSub;
}

/**
 * Registers a bridge listener's counters on `metrics` and measures its lag:
 * the time from the end of each delivered request (`inserted_at` +
 * `duration_ms`) to its delivery. Returns a function that stops.
 */
export function observeListener(metrics: PgpulseMetrics, listener: ObservedListener): () => void {
  let lagSeconds: number | undefined;
  const unsubscribe = listener.pubsub.subscribe(
    ({ event }) => {
      lagSeconds = Math.max(0, (Date.now() - event.inserted_at.getTime() - event.duration_ms) / 1_000);
    },
    { name: 'pgpulse-metrics-lag' },
  );
  const remove = metrics.addListener({
    get stats() {
      return listener.stats;
    },
    lagSeconds: () => lagSeconds,
  });
  return () => {
    unsubscribe();
    remove();
  };
}
