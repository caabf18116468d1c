import { sql, type RawBuilder } from 'kysely';
import type { StatsParams } from './stats-params.js';
import { filterKeys, REFERRER_HOST_SQL, type StatsFilters } from './stats-filters.js';

/** Host names as the referrer SQL yields them: lower case, no `www.`, no port. */
export function normalizeHosts(hosts: readonly string[] | undefined): string[] {
  return [
    ...new Set(
      (hosts ?? [])
        .map((h) =>
          h
            .toLowerCase()
            .replace(/:\d+$/, '')
            .replace(/^www\./, ''),
        )
        .filter(Boolean),
    ),
  ];
}

/** The filters of the params, without the range. */
export function filtersOf(params: StatsParams): StatsFilters {
  return Object.fromEntries(filterKeys.filter((key) => params[key] !== undefined).map((key) => [key, params[key]]));
}

/** Referrer hosts of rows with a referrer from another site, for the referrers list. */
export function referrerHostCondition(ownHosts: readonly string[]): RawBuilder<unknown> {
  return ownHosts.length === 0 ? sql`referer is not null` : sql`referer is not null and ${REFERRER_HOST_SQL} <> all(${ownHosts}::text[])`;
}
