import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { PulseDatabase } from '../schema/database.js';
import { ALERT_LEASE, AlertEvaluator, type AlertEvaluatorStats } from './alert-evaluator.js';
import { AlertNotifier, type AlertNotifierStats, type AlertNotifyFailure } from './alert-notifier.js';
import { resolveAlertRules, type AlertRule, type ResolvedAlertRule } from './alert-rules.js';
import { extendLease, settleLease, type AlertEvent, type AlertState } from './alert-store.js';
import { resolveWebhooks, type AlertWebhook } from './webhook-options.js';
import { parseOption, wholeNumber } from '../shared/option-schema.js';

/** Alert options of `createPulse()`. */
export interface AlertOptions {
  /**
   * Alert rules evaluated on the stored traffic (see the README's Alerts
   * section): `{ kind: 'errorRate', name: 'errors', threshold: 0.05 }`,
   * `p95`, `trafficDrop`, `noTraffic`, `newErrorGroup`. Every process given
   * rules takes part; exactly one of them evaluates at a time. Default none.
   */
  alerts?: readonly AlertRule[];
  /** Where alert transitions are sent: generic JSON webhooks (signed with `secret`) or Slack-compatible ones. Default none (states and history are still stored). */
  alertWebhooks?: readonly AlertWebhook[];
  /** How often the rules are evaluated. The evaluating process holds its lease for 3 intervals: a process that dies is replaced within that. Default 60,000 ms. */
  alertIntervalMs?: number;
}

/** {@link AlertOptions.alertIntervalMs} with its default. */
const alertIntervalSchema = wholeNumber(100, 'ms').default(60_000);

/** Alert counters of `pulse.stats.alerts`. */
export interface AlertStats extends AlertEvaluatorStats {
  notifications: AlertNotifierStats | null;
}

/** What a pulse reports from its alerts. */
export interface AlertHooks {
  onEvent: (event: AlertEvent) => void;
  onNotifyFailed: (failure: AlertNotifyFailure) => void;
  onError: (error: Error) => void;
}

/** The alerts of one pulse: the evaluator (taking part in the election) and the notifier. */
export class PulseAlerts {
  readonly rules: readonly ResolvedAlertRule[];
  private readonly evaluator: AlertEvaluator;
  private readonly notifier: AlertNotifier | undefined;

  constructor(db: Kysely<PulseDatabase>, nodeId: string, options: AlertOptions, hooks: AlertHooks) {
    this.rules = resolveAlertRules(options.alerts ?? []);
    const webhooks = resolveWebhooks(options.alertWebhooks ?? []);
    const intervalMs = parseOption('pgpulse', 'alertIntervalMs', alertIntervalSchema, options.alertIntervalMs);
    // Two pulses of one process (or a node id reused by a restarted container) must not share the lease.
    const holder = `${nodeId}#${randomBytes(4).toString('hex')}`;
    // Only the lease holder sends, and each attempt keeps the lease while it may still arrive: a takeover never
    // sends from the outbox what the previous holder is still sending (a duplicate at the receiver).
    const leaseMs = 3 * intervalMs;
    const lease = {
      hold: (holdMs: number) => extendLease(db, ALERT_LEASE, holder, holdMs),
      settle: () => settleLease(db, ALERT_LEASE, holder, leaseMs),
    };
    this.notifier =
      webhooks.length > 0 ? new AlertNotifier(webhooks, (outcome) => this.evaluator.delivered(outcome), hooks.onNotifyFailed, undefined, lease) : undefined;
    this.evaluator = new AlertEvaluator(db, {
      rules: this.rules,
      holder,
      nodeId,
      intervalMs,
      leaseMs,
      notifier: this.notifier,
      onEvent: hooks.onEvent,
      onError: hooks.onError,
    });
  }

  start(): void {
    this.evaluator.start();
  }

  /** Evaluates now (the rules when this process holds the lease) and offers pending notifications. */
  evaluate(): Promise<void> {
    return this.evaluator.evaluate();
  }

  /** Alert states as last read, by rule then subject. */
  get states(): ReadonlyMap<string, ReadonlyMap<string, AlertState>> {
    return this.evaluator.states;
  }

  get stats(): AlertStats {
    return { ...this.evaluator.stats, notifications: this.notifier ? { ...this.notifier.stats } : null };
  }

  /** Stops evaluating, gives the lease up and abandons deliveries in flight (they stay in the outbox). Safe twice. */
  async close(): Promise<void> {
    // Deliveries first: the lease is given up only once nothing of this process can still reach a webhook.
    await this.notifier?.close();
    await this.evaluator.close();
  }
}
