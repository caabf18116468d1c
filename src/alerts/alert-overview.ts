import { sql, type Kysely } from 'kysely';
import type { PulseDatabase } from '../schema/database.js';
import { ALERT_LEASE } from './alert-evaluator.js';
import { leaseHolder, recentEvents, type AlertEvent } from './alert-store.js';

/** What `GET /api/alerts` answers: the rules, every alert's state, the firing ones and the recent history. */
export interface AlertOverview {
  /** The rules as the evaluating process last defined them. */
  rules: { name: string; kind: string; definition: Record<string, unknown>; updatedAt: string }[];
  states: { rule: string; subject: string; state: 'firing' | 'ok'; since: string; event: AlertEvent | null }[];
  /** The firing alerts (of `states`), longest firing first. */
  firing: AlertOverview['states'];
  /** The newest transitions, newest first. */
  history: AlertEvent[];
  /** Lease holder evaluating the rules now (null: none, e.g. no process has rules or the last one died within the lease). */
  evaluator: string | null;
}

/** Reads the alert tables for dashboards (bounded: 100 rules, 500 states, `historyLimit` events). */
export async function alertOverview(db: Kysely<PulseDatabase>, historyLimit = 50): Promise<AlertOverview> {
  const [rules, states, history, evaluator] = await Promise.all([
    sql<{ name: string; kind: string; definition: Record<string, unknown>; updated_at: Date }>`
      select name, kind, definition, updated_at from pgpulse.alert_rules order by name limit 100`.execute(db),
    sql<{ rule: string; subject: string; state: 'firing' | 'ok'; since: Date; event_id: string | null }>`
      select rule, subject, state, since, event_id::text from pgpulse.alert_states order by state = 'firing' desc, since desc limit 500`.execute(db),
    recentEvents(db, historyLimit),
    leaseHolder(db, ALERT_LEASE),
  ]);
  const events = new Map(history.map((e) => [e.id, e]));
  const firingIds = states.rows.filter((s) => s.state === 'firing' && s.event_id && !events.has(s.event_id)).map((s) => s.event_id!);
  if (firingIds.length > 0) for (const event of await recentEvents(db, firingIds.length, firingIds)) events.set(event.id, event);
  const stateRows = states.rows.map((s) => ({
    rule: s.rule,
    subject: s.subject,
    state: s.state,
    since: s.since.toISOString(),
    event: (s.event_id && events.get(s.event_id)) || null,
  }));
  return {
    rules: rules.rows.map((r) => ({ name: r.name, kind: r.kind, definition: r.definition, updatedAt: r.updated_at.toISOString() })),
    states: stateRows,
    firing: stateRows.filter((s) => s.state === 'firing').sort((a, b) => a.since.localeCompare(b.since)),
    history,
    evaluator,
  };
}
