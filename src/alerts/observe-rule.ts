import { sql, type Kysely } from 'kysely';
import { DAY_MS, MINUTE_MS } from '../shared/time.js';
import type { PulseDatabase } from '../schema/database.js';
import { EACH_ROUTE, type ResolvedAlertRule } from './alert-rules.js';
import { hadTrafficBefore, p95Of, routeWindowTotals, windowTotals, type WindowTotals } from './window-totals.js';

/** What one evaluation saw of one alert (a rule over one subject). */
export interface Observation {
  /** '' for the whole app, the route of a per-route rule, the fingerprint of an error group. */
  subject: string;
  /** The measured value in the rule's unit (share of 5xx, ms, ratio to the earlier window, requests); null when there was nothing to measure. */
  value: number | null;
  /** Requests the value is computed from (for trafficDrop: the earlier window's). */
  requests: number;
  /** The alert should fire (if it is not firing). */
  breached: boolean;
  /** A firing alert should resolve (beyond the threshold by the hysteresis, or too few requests to tell). */
  healthy: boolean;
  /** Extra facts carried by the alert's events and notifications. */
  detail: Record<string, string | number | null>;
}

/** Most alerts one per-subject rule raises in one evaluation (routes, error groups); the rest wait for the next. */
const MAX_SUBJECTS = 100;

/**
 * Observes one rule over the window ending at `now`. `firing` are the subjects
 * of the rule's alerts now firing: each gets an observation (a firing route
 * without traffic in the window is healthy).
 */
export async function observeRule(db: Kysely<PulseDatabase>, rule: ResolvedAlertRule, now: Date, firing: ReadonlySet<string>): Promise<Observation[]> {
  const from = new Date(now.getTime() - rule.windowMs);
  switch (rule.kind) {
    case 'errorRate':
    case 'p95': {
      const measured = await thresholdTotals(db, rule.route, from, now);
      const observations = measured.map((totals) => {
        const value = rule.kind === 'errorRate' ? (totals.requests > 0 ? totals.errors / totals.requests : null) : p95Of(totals);
        const threshold = rule.kind === 'errorRate' ? rule.threshold : rule.thresholdMs;
        const enough = totals.requests >= rule.minRequests && value !== null;
        return {
          subject: totals.route ?? '',
          value,
          requests: totals.requests,
          breached: enough && value > threshold,
          healthy: !enough || value <= threshold * (1 - rule.hysteresis),
          detail: { errors: totals.errors },
        };
      });
      return withQuietSubjects(observations, firing);
    }
    case 'trafficDrop': {
      const [current, earlier] = await Promise.all([
        windowTotals(db, from, now),
        windowTotals(db, new Date(from.getTime() - rule.periodMs), new Date(now.getTime() - rule.periodMs)),
      ]);
      const value = earlier.requests > 0 ? current.requests / earlier.requests : null;
      const enough = earlier.requests >= rule.minRequests && value !== null;
      return [
        {
          subject: '',
          value,
          requests: earlier.requests,
          breached: enough && value < rule.threshold,
          healthy: !enough || value >= rule.threshold * (1 + rule.hysteresis),
          detail: { currentRequests: current.requests, earlierRequests: earlier.requests },
        },
      ];
    }
    case 'noTraffic': {
      const current = await windowTotals(db, from, now);
      const silent = current.requests === 0;
      // Traffic that stops, not an app that never had any (a fresh install).
      const before = silent && (await hadTrafficBefore(db, from, DAY_MS));
      return [{ subject: '', value: current.requests, requests: current.requests, breached: before, healthy: !silent, detail: {} }];
    }
    case 'newErrorGroup':
      return observeErrorGroups(db, from, firing);
  }
}

/** Totals of a threshold rule's subjects: all requests, one route, or every route. */
async function thresholdTotals(db: Kysely<PulseDatabase>, route: string | undefined, from: Date, to: Date): Promise<WindowTotals[]> {
  if (route === undefined) return [await windowTotals(db, from, to)];
  return routeWindowTotals(db, from, to, route === EACH_ROUTE ? null : route, MAX_SUBJECTS);
}

/** Firing subjects with no observation (a route without requests in the window) are healthy. */
function withQuietSubjects(observations: Observation[], firing: ReadonlySet<string>): Observation[] {
  const seen = new Set(observations.map((o) => o.subject));
  for (const subject of firing)
    if (!seen.has(subject)) observations.push({ subject, value: null, requests: 0, breached: false, healthy: true, detail: { errors: 0 } });
  return observations;
}

/**
 * Error groups first seen in the window (breached) and the firing ones, with
 * when each last occurred (the minute error rollups): healthy once that is
 * before the window.
 */
async function observeErrorGroups(db: Kysely<PulseDatabase>, from: Date, firing: ReadonlySet<string>): Promise<Observation[]> {
  const result = await sql<{ fingerprint: string; class: string; message: string; first_seen: Date; last_seen: Date | null; count: string | null }>`
    select g.fingerprint, g.class, g.message, g.first_seen, r.last_seen, r.count
    from (
      (select * from pgpulse.error_groups where first_seen >= ${from} order by first_seen limit ${MAX_SUBJECTS})
      union
      select * from pgpulse.error_groups where fingerprint = any(${[...firing]}::text[])
    ) g
    left join lateral (
      select max(last_seen) as last_seen, sum(count) as count from pgpulse.error_rollups
      where fingerprint = g.fingerprint and grain = 'minute' and bucket >= ${new Date(from.getTime() - MINUTE_MS)}
    ) r on true`.execute(db);
  return result.rows.map((row) => {
    const lastSeen = row.last_seen ?? row.first_seen;
    return {
      subject: row.fingerprint,
      value: Number(row.count ?? 0),
      requests: Number(row.count ?? 0),
      breached: row.first_seen >= from,
      healthy: lastSeen < from,
      detail: { class: row.class, message: row.message, firstSeen: row.first_seen.toISOString(), lastSeen: lastSeen.toISOString() },
    };
  });
}
