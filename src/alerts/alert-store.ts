import { sql, type Kysely } from 'kysely';
import type { PulseDatabase } from '../schema/database.js';
import type { AlertKind, ResolvedAlertRule } from './alert-rules.js';

/** A transition of an alert, as stored in `pgpulse.alert_events` and sent to webhooks. */
export interface AlertEvent {
  /** Row id in `pgpulse.alert_events` (int8 as text): the delivery id of its notifications. */
  id: string;
  rule: string;
  /** '' for the whole app, the route of a per-route rule, the fingerprint of an error group. */
  subject: string;
  kind: AlertKind;
  state: 'firing' | 'resolved';
  /** The measured value (share of 5xx, ms, ratio, requests or occurrences); null when nothing was measured. */
  value: number | null;
  threshold: number | null;
  requests: number | null;
  /** The release current at the transition (the one deployed last, see `pgpulse.releases`), null when none is recorded. */
  release: string | null;
  /** Node id of the process that evaluated the rule. */
  evaluator: string;
  detail: Record<string, unknown>;
  at: Date;
}

/** A transition to store (the row of {@link AlertEvent} before it has an id). */
export type NewAlertEvent = Omit<AlertEvent, 'id' | 'at' | 'release'>;

/** Current state of one alert. */
export interface AlertState {
  state: 'firing' | 'ok';
  since: Date;
  eventId: string | null;
}

type EventRow = Omit<AlertEvent, 'value' | 'requests' | 'threshold'> & { value: number | null; threshold: number | null; requests: string | null };

const fromRow = (row: EventRow): AlertEvent => ({ ...row, requests: row.requests === null ? null : Number(row.requests) });

/**
 * Takes or renews the evaluation lease `name` for `holder` until `leaseMs`
 * from now: renewed when `holder` has it (never shortened: a delivery in
 * flight may have extended it, see {@link extendLease}), taken when it has
 * expired (its holder died or stopped renewing). Whether `holder` holds it now.
 */
export async function claimLease(db: Kysely<PulseDatabase>, name: string, holder: string, leaseMs: number): Promise<boolean> {
  const result = await sql<{ holder: string }>`
    insert into pgpulse.alert_leases as l (name, holder, expires_at) values (${name}, ${holder}, now() + ${leaseMs} * interval '1 millisecond')
    on conflict (name) do update
      set holder = excluded.holder,
        expires_at = case when l.holder = excluded.holder then greatest(l.expires_at, excluded.expires_at) else excluded.expires_at end
      where l.holder = excluded.holder or l.expires_at < now()
    returning holder`.execute(db);
  return result.rows.length === 1;
}

/**
 * Keeps the lease `name` of `holder` for at least `holdMs` more, only while
 * it still holds it (not expired): what a notification attempt takes before
 * it is sent, so no other process can take the lease over, and send the same
 * event from the outbox, while the attempt may still reach its webhook.
 * Whether `holder` holds it now.
 */
export async function extendLease(db: Kysely<PulseDatabase>, name: string, holder: string, holdMs: number): Promise<boolean> {
  const result = await sql`
    update pgpulse.alert_leases set expires_at = greatest(expires_at, now() + ${holdMs} * interval '1 millisecond')
    where name = ${name} and holder = ${holder} and expires_at > now()
    returning 1`.execute(db);
  return result.rows.length === 1;
}

/** After an attempt: the lease of `holder` back to at most `leaseMs` from now (what {@link extendLease} added is no longer needed). */
export async function settleLease(db: Kysely<PulseDatabase>, name: string, holder: string, leaseMs: number): Promise<void> {
  await sql`update pgpulse.alert_leases set expires_at = least(expires_at, now() + ${leaseMs} * interval '1 millisecond')
    where name = ${name} and holder = ${holder} and expires_at > now()`.execute(db);
}

/** Gives the lease up (at close), so another process takes over at its next evaluation. */
export async function releaseLease(db: Kysely<PulseDatabase>, name: string, holder: string): Promise<void> {
  await sql`delete from pgpulse.alert_leases where name = ${name} and holder = ${holder}`.execute(db);
}

/** Who holds the lease now (null when nobody or expired). */
export async function leaseHolder(db: Kysely<PulseDatabase>, name: string): Promise<string | null> {
  const result = await sql<{ holder: string }>`select holder from pgpulse.alert_leases where name = ${name} and expires_at > now()`.execute(db);
  return result.rows[0]?.holder ?? null;
}

/** States of the alerts of `rules`, by rule then subject. */
export async function loadStates(db: Kysely<PulseDatabase>, rules: readonly string[]): Promise<Map<string, Map<string, AlertState>>> {
  const result = await sql<{ rule: string; subject: string; state: 'firing' | 'ok'; since: Date; event_id: string | null }>`
    select rule, subject, state, since, event_id from pgpulse.alert_states where rule = any(${rules}::text[])`.execute(db);
  const states = new Map<string, Map<string, AlertState>>();
  for (const row of result.rows) {
    let subjects = states.get(row.rule);
    if (!subjects) states.set(row.rule, (subjects = new Map<string, AlertState>()));
    subjects.set(row.subject, { state: row.state, since: row.since, eventId: row.event_id });
  }
  return states;
}

/** Records the rules as the evaluating process defines them (for dashboards and the CLI). */
export async function saveRules(db: Kysely<PulseDatabase>, rules: readonly ResolvedAlertRule[]): Promise<void> {
  if (rules.length === 0) return;
  await sql`
    insert into pgpulse.alert_rules as r (name, kind, definition)
    select * from unnest(${rules.map((r) => r.name)}::text[], ${rules.map((r) => r.kind)}::text[], ${rules.map((r) => JSON.stringify(r))}::jsonb[])
    on conflict (name) do update set kind = excluded.kind, definition = excluded.definition, updated_at = now()
      where r.definition is distinct from excluded.definition`.execute(db);
}

/**
 * Stores a transition, in one transaction, only while `holder` holds the
 * lease (a process that lost it mid-evaluation writes nothing) and only when
 * the alert is in the state it leaves (fired: not firing; resolved: firing),
 * so no transition is ever stored twice. `once` alerts (error groups) never
 * fire again after their first time. The stored event, or undefined.
 */
export async function storeTransition(
  db: Kysely<PulseDatabase>,
  event: NewAlertEvent,
  lease: { name: string; holder: string },
  options: { once?: boolean } = {},
): Promise<AlertEvent | undefined> {
  return db.transaction().execute(async (trx) => {
    const held = await sql`select 1 from pgpulse.alert_leases where name = ${lease.name} and holder = ${lease.holder} and expires_at > now() for share`.execute(
      trx,
    );
    if (held.rows.length === 0) return undefined;
    const moved =
      event.state === 'firing'
        ? await sql<{ rule: string }>`
            insert into pgpulse.alert_states as s (rule, subject, state, since) values (${event.rule}, ${event.subject}, 'firing', now())
            on conflict (rule, subject) do update set state = 'firing', since = now() where s.state = 'ok' and not ${options.once === true}
            returning rule`.execute(trx)
        : await sql<{ rule: string }>`
            update pgpulse.alert_states set state = 'ok', since = now() where rule = ${event.rule} and subject = ${event.subject} and state = 'firing'
            returning rule`.execute(trx);
    if (moved.rows.length === 0) return undefined;
    const stored = await sql<EventRow>`
      insert into pgpulse.alert_events (rule, subject, kind, state, value, threshold, requests, release, evaluator, detail)
      values (${event.rule}, ${event.subject}, ${event.kind}, ${event.state}, ${event.value}, ${event.threshold}, ${event.requests},
        (select release from pgpulse.releases group by release order by min(first_seen) desc, release limit 1), ${event.evaluator}, ${JSON.stringify(event.detail)}::jsonb)
      returning id::text, rule, subject, kind, state, value, threshold, requests, release, evaluator, detail, at`.execute(trx);
    const row = stored.rows[0]!;
    await sql`update pgpulse.alert_states set event_id = ${row.id}::bigint where rule = ${event.rule} and subject = ${event.subject}`.execute(trx);
    return fromRow(row);
  });
}

/** Events whose notifications are not done yet (the outbox), oldest first, from the last day. */
export async function pendingEvents(db: Kysely<PulseDatabase>, limit: number): Promise<AlertEvent[]> {
  const result = await sql<EventRow>`
    select id::text, rule, subject, kind, state, value, threshold, requests, release, evaluator, detail, at from pgpulse.alert_events
    where notified_at is null and notify_error is null and at > now() - interval '1 day' order by id limit ${limit}`.execute(db);
  return result.rows.map(fromRow);
}

/** Marks an event's notifications done: delivered, or given up with `error`. */
export async function markNotified(db: Kysely<PulseDatabase>, id: string, error?: string): Promise<void> {
  await sql`update pgpulse.alert_events set notified_at = case when ${error ?? null}::text is null then now() end, notify_error = ${error ?? null}
    where id = ${id}::bigint`.execute(db);
}

/** The most recent events (newest first), or those of `ids`, for the dashboard and the CLI. */
export async function recentEvents(db: Kysely<PulseDatabase>, limit: number, ids?: readonly string[]): Promise<AlertEvent[]> {
  const result = await sql<EventRow>`
    select id::text, rule, subject, kind, state, value, threshold, requests, release, evaluator, detail, at from pgpulse.alert_events
    where ${ids ?? null}::bigint[] is null or id = any(${ids ?? null}::bigint[])
    order by id desc limit ${limit}`.execute(db);
  return result.rows.map(fromRow);
}

/** Id of the newest transition (int8 as text), or null when none was stored: what the dashboard's alert watch compares. */
export async function latestEventId(db: Kysely<PulseDatabase>): Promise<string | null> {
  const result = await sql<{ id: string | null }>`select max(id)::text as id from pgpulse.alert_events`.execute(db);
  return result.rows[0]?.id ?? null;
}
