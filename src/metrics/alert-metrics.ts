/**
 * Alert metrics, on the registry of the pulse's other metrics: the state of
 * every alert as a gauge, so teams routing alerts through Alertmanager can
 * alert on `pgpulse_alert_firing == 1` instead of (or beside) the webhooks.
 * Every process with rules reads the states at each evaluation, so any of
 * them can be scraped (they report the same states; use `max by (rule)`).
 */
import type { MetricsRegistry } from './metrics-registry.js';
import { asPromRegistry, promClient } from './prom-client.js';

/** What the alert metrics read from a pulse's alerts. */
export interface AlertMetricsSource {
  readonly rules: readonly { name: string }[];
  readonly states: ReadonlyMap<string, ReadonlyMap<string, { state: 'firing' | 'ok' }>>;
  readonly stats: {
    evaluating: boolean;
    evaluationErrors: number;
    notifications: { delivered: number; failures: number; givenUp: number } | null;
  };
}

/** The alert metrics of one registry. */
export class AlertMetrics {
  private readonly sources = new Set<AlertMetricsSource>();

  constructor(registry: MetricsRegistry) {
    const registers = [asPromRegistry(registry)];
    const sources = this.sources;
    const sum = (read: (source: AlertMetricsSource) => number | undefined) => [...sources].reduce((total, s) => total + (read(s) ?? 0), 0);
    new (promClient().Gauge)({
      name: 'pgpulse_alert_firing',
      help: 'Whether an alert is firing (1) or not (0), by rule and subject ("" for the whole app, a route, an error fingerprint).',
      labelNames: ['rule', 'subject'],
      registers,
      collect() {
        this.reset();
        for (const source of sources)
          for (const rule of source.rules) {
            const subjects = source.states.get(rule.name);
            // A rule with no alert yet still has its series, at 0.
            if (!subjects || subjects.size === 0) this.set({ rule: rule.name, subject: '' }, 0);
            else for (const [subject, state] of subjects) this.set({ rule: rule.name, subject }, state.state === 'firing' ? 1 : 0);
          }
      },
    });
    new (promClient().Gauge)({
      name: 'pgpulse_alert_evaluating',
      help: 'Whether this process is the one evaluating the alert rules (holds the lease).',
      registers,
      collect() {
        this.set(sum((s) => (s.stats.evaluating ? 1 : 0)));
      },
    });
    const counter = (name: string, help: string, read: (source: AlertMetricsSource) => number | undefined) =>
      new (promClient().Counter)({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(sum(read));
        },
      });
    counter('pgpulse_alert_evaluation_errors_total', 'Alert evaluations that failed (alertError events).', (s) => s.stats.evaluationErrors);
    counter('pgpulse_alert_notifications_delivered_total', 'Alert events every webhook accepted.', (s) => s.stats.notifications?.delivered);
    counter('pgpulse_alert_notifications_failed_total', 'Failed webhook attempts (alertNotifyFailed events).', (s) => s.stats.notifications?.failures);
    counter('pgpulse_alert_notifications_given_up_total', 'Alert events some webhook never accepted.', (s) => s.stats.notifications?.givenUp);
  }

  /** Adds a pulse's alerts; returns a function that removes them. */
  add(source: AlertMetricsSource): () => void {
    this.sources.add(source);
    return () => void this.sources.delete(source);
  }
}

const byRegistry = new WeakMap<MetricsRegistry, AlertMetrics>();

/** The alert metrics of `registry`, registered on first use. */
export function alertMetrics(registry: MetricsRegistry): AlertMetrics {
  let metrics = byRegistry.get(registry);
  if (!metrics) byRegistry.set(registry, (metrics = new AlertMetrics(registry)));
  return metrics;
}
