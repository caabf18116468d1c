import { z } from 'zod';
import { attributeLimits } from '../schema/request-log.js';
import { filterShape } from './stats-filters.js';
import { DAY_MS } from '../shared/time.js';

/** Longest range `/api/stats` answers, in days. */
export const MAX_RANGE_DAYS = 400;

/** An instant: ISO 8601 or epoch milliseconds (as the page sends them). */
export const instant = z
  .string()
  .trim()
  .min(1)
  .transform((value, ctx) => {
    const date = /^\d+$/.test(value) ? new Date(Number(value)) : new Date(value);
    if (Number.isNaN(date.getTime())) {
      ctx.addIssue({ code: 'custom', message: 'must be an ISO date or epoch milliseconds' });
      return z.NEVER;
    }
    return date;
  });

/** The canonical IANA name of `tz` (as Intl resolves it), or undefined when Intl does not know it. */
function canonicalTimeZone(tz: string): string | undefined {
  if (!/^[A-Za-z][A-Za-z0-9_+\-/]*$/.test(tz)) return undefined;
  try {
    return new Intl.DateTimeFormat('en', { timeZone: tz }).resolvedOptions().timeZone;
  } catch {
    return undefined;
  }
}

/** An IANA time zone, canonicalised. */
export const timeZone = z
  .string()
  .trim()
  .max(64)
  .transform((tz, ctx) => {
    const canonical = canonicalTimeZone(tz);
    if (canonical === undefined) {
      ctx.addIssue({ code: 'custom', message: 'must be an IANA time zone such as Europe/Paris' });
      return z.NEVER;
    }
    return canonical;
  });

/**
 * Query parameters of `GET /api/stats` and `GET /api/export`: the range, the
 * time zone and the filters. Unknown parameters (cache busters, `_=…`) are
 * ignored, not rejected.
 */
export const statsParamsSchema = z
  .object({
    from: instant,
    to: instant.optional(),
    tz: timeZone.default('UTC'),
    /** A custom attribute key: the answer then lists its values (`attributes`), from raw rows. */
    attributeKey: z.string().regex(attributeLimits.key, 'must be an attribute key such as plan').optional(),
    ...filterShape,
  })
  .transform((rest) => ({ ...rest, to: rest.to ?? new Date() }))
  .refine((p) => p.from < p.to, { error: 'from must be before to', path: ['from'] })
  .refine((p) => p.to.getTime() - p.from.getTime() <= MAX_RANGE_DAYS * DAY_MS, {
    error: `range must be at most ${MAX_RANGE_DAYS} days`,
    path: ['to'],
  });

export type StatsParams = z.output<typeof statsParamsSchema>;

/**
 * Query parameters of `GET /api/stream` (the live rows matching the filters)
 * and, with `limit` and `from`, of `GET /api/recent` (the newest rows
 * matching them, at or after `from` when given). Unknown parameters are ignored.
 */
export const liveParamsSchema = z.object({
  from: instant.optional(),
  /** Rows `GET /api/recent` answers: an integer, clamped to 1–{@link MAX_RECENT_ROWS}; default (and for anything else) 50. */
  limit: z
    .string()
    .optional()
    .transform((value) => {
      const n = Number(value ?? 50);
      return Number.isInteger(n) ? Math.min(MAX_RECENT_ROWS, Math.max(1, n)) : 50;
    }),
  ...filterShape,
});

export type LiveParams = z.output<typeof liveParamsSchema>;

/** Most rows `GET /api/recent` returns. */
export const MAX_RECENT_ROWS = 200;

export type ParsedQuery<T> = { ok: true; params: T } | { ok: false; issues: { path: string; message: string }[] };

/** Parses URL search params with a schema; returns the params or the list of issues for a 400 answer. */
export function parseQuery<T>(schema: z.ZodType<T>, search: URLSearchParams): ParsedQuery<T> {
  const raw: Record<string, string> = {};
  for (const [key, value] of search) raw[key] = value;
  const result = schema.safeParse(raw);
  if (result.success) return { ok: true, params: result.data };
  return { ok: false, issues: result.error.issues.map((i) => ({ path: i.path.join('.') || '(query)', message: i.message })) };
}

/** Parses the query of `GET /api/stats` (see {@link statsParamsSchema}). */
export function parseStatsParams(search: URLSearchParams): ParsedQuery<StatsParams> {
  return parseQuery(statsParamsSchema, search);
}
