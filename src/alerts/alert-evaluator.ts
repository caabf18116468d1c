import type { Kysely } from 'kysely';
import type { PulseDatabase } from '../schema/database.js';
import { ruleThreshold, type ResolvedAlertRule } from './alert-rules.js';
import {
  claimLease,
  loadStates,
  markNotified,
  pendingEvents,
  releaseLease,
  saveRules,
  storeTransition,
  type AlertEvent,
  type AlertState,
} from './alert-store.js';
import type { AlertNotifier } from './alert-notifier.js';
import { observeRule } from './observe-rule.js';
import { errorMessage } from '../shared/describe-error.js';

/** Name of the evaluation lease in `pgpulse.alert_leases` (one evaluator per database). */
export const ALERT_LEASE = 'alerts';

export interface AlertEvaluatorStats {
  /** Evaluations this process ran as the evaluator. */
  evaluations: number;
  /** Evaluations (or lease renewals) that failed; retried at the next interval. */
  evaluationErrors: number;
  /** Transitions this process stored (fired and resolved). */
  transitions: number;
  /** This process holds the evaluation lease. */
  evaluating: boolean;
}

export interface AlertEvaluatorOptions {
  rules: readonly ResolvedAlertRule[];
  /** Lease holder name (the pulse's node id; a random suffix keeps two pulses of one process apart). */
  holder: string;
  /** Node id stored as the evaluator of events. */
  nodeId: string;
  intervalMs: number;
  leaseMs: number;
  notifier: AlertNotifier | undefined;
  onEvent: (event: AlertEvent) => void;
  onError: (error: Error) => void;
}

/**
 * Evaluates alert rules every `intervalMs` in exactly one process of all that
 * run them on the database: each process tries to take or renew a lease row
 * (`pgpulse.alert_leases`, `leaseMs` long); its holder evaluates, the others
 * only read the states (for their metrics). When the holder dies, its lease
 * expires and the next process to try takes over. A transition is stored
 * only under the lease and from the state it leaves (see `storeTransition`),
 * and notifications are sent from the outbox of stored events, so a restart
 * or a takeover re-sends nothing already delivered.
 */
export class AlertEvaluator {
  readonly stats: AlertEvaluatorStats = { evaluations: 0, evaluationErrors: 0, transitions: 0, evaluating: false };
  /** Alert states as last read, by rule then subject (read by the metrics). */
  states = new Map<string, Map<string, AlertState>>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private closed = false;
  private rulesSaved = false;

  constructor(
    private readonly db: Kysely<PulseDatabase>,
    private readonly options: AlertEvaluatorOptions,
  ) {}

  /** Starts the periodic evaluation (first one now). */
  start(): void {
    if (this.timer || this.closed) return;
    this.timer = setInterval(() => void this.evaluate(), this.options.intervalMs);
    this.timer.unref();
    void this.evaluate();
  }

  /** Runs one evaluation now (waits for one in flight first); never throws (errors go to `onError`). */
  async evaluate(): Promise<void> {
    while (this.running) await this.running;
    if (this.closed) return;
    this.running = this.run().finally(() => (this.running = undefined));
    await this.running;
  }

  private async run(): Promise<void> {
    const { rules, holder, leaseMs } = this.options;
    try {
      const evaluating = await claimLease(this.db, ALERT_LEASE, holder, leaseMs);
      if (evaluating && !this.stats.evaluating) this.rulesSaved = false;
      this.stats.evaluating = evaluating;
      const names = rules.map((r) => r.name);
      this.states = await loadStates(this.db, names);
      if (!evaluating) return;
      if (!this.rulesSaved) {
        await saveRules(this.db, rules);
        this.rulesSaved = true;
      }
      const now = new Date();
      for (const rule of rules) {
        if (this.closed) return;
        await this.evaluateRule(rule, now);
      }
      this.stats.evaluations++;
      this.states = await loadStates(this.db, names);
      await this.offerPending();
    } catch (error) {
      this.stats.evaluationErrors++;
      this.options.onError(new Error(`pgpulse alerts: evaluation failed: ${errorMessage(error)}`, { cause: error }));
    }
  }

  private async evaluateRule(rule: ResolvedAlertRule, now: Date): Promise<void> {
    const states = this.states.get(rule.name) ?? new Map<string, AlertState>();
    const firing = new Set([...states].filter(([, s]) => s.state === 'firing').map(([subject]) => subject));
    const once = rule.kind === 'newErrorGroup';
    for (const observation of await observeRule(this.db, rule, now, firing)) {
      const state = states.get(observation.subject);
      const isFiring = state?.state === 'firing';
      let next: 'firing' | 'resolved' | undefined;
      if (!isFiring && observation.breached && !(once && state)) next = 'firing';
      else if (isFiring && observation.healthy) next = 'resolved';
      if (!next) continue;
      const event = await storeTransition(
        this.db,
        {
          rule: rule.name,
          subject: observation.subject,
          kind: rule.kind,
          state: next,
          value: observation.value,
          threshold: ruleThreshold(rule),
          requests: observation.requests,
          evaluator: this.options.nodeId,
          detail: { ...observation.detail, windowMs: rule.windowMs, ...(next === 'resolved' && state?.eventId ? { firedEventId: state.eventId } : {}) },
        },
        { name: ALERT_LEASE, holder: this.options.holder },
        { once },
      );
      if (!event) continue;
      this.stats.transitions++;
      this.options.onEvent(event);
    }
  }

  /** Offers the outbox (events not notified yet, e.g. of a previous evaluator that died) to the notifier. */
  private async offerPending(): Promise<void> {
    const notifier = this.options.notifier;
    if (!notifier) return;
    for (const event of await pendingEvents(this.db, 100)) if (!notifier.has(event.id) && !notifier.offer(event)) break;
  }

  /** What the notifier reports back: the event is done (delivered or given up). */
  async delivered(outcome: { event: AlertEvent; error?: string }): Promise<void> {
    await markNotified(this.db, outcome.event.id, outcome.error);
  }

  /** Stops evaluating, waits for the evaluation in flight and gives the lease up. Safe twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    await this.running;
    if (this.stats.evaluating) await releaseLease(this.db, ALERT_LEASE, this.options.holder).catch(() => undefined);
    this.stats.evaluating = false;
  }
}
