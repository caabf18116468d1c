import { z } from 'zod';
import { DAY_MS } from '../shared/time.js';
import { filterShape } from './stats-filters.js';
import { instant, MAX_RANGE_DAYS, timeZone } from './stats-params.js';

/** Most error groups `GET /api/errors` lists. */
export const MAX_ERROR_GROUPS = 100;
/** Most example requests `GET /api/errors/<fingerprint>` answers. */
export const MAX_ERROR_EXAMPLES = 50;

/** A whole number in `[min, max]`, as a query string holds it; anything else is an issue (400). */
const count = (min: number, max: number, fallback: number) =>
  z
    .string()
    .trim()
    .regex(/^\d{1,6}$/, `must be a whole number from ${min} to ${max}`)
    .transform(Number)
    .refine((n) => n >= min && n <= max, { error: `must be a whole number from ${min} to ${max}` })
    .optional()
    .transform((n) => n ?? fallback);

/** Range, time zone and filters as `GET /api/stats` takes them, plus `since` (what counts as new). */
const rangeShape = {
  from: instant,
  to: instant.optional(),
  tz: timeZone.default('UTC'),
  /** A group is new when first seen at or after this instant; default `from` (new within the range). */
  since: instant.optional(),
  ...filterShape,
};

const withRange = <T extends { from: Date; to?: Date | undefined }>(schema: z.ZodType<T>) =>
  schema
    .transform((rest) => ({ ...rest, to: rest.to ?? new Date() }))
    .refine((p) => p.from < p.to, { error: 'from must be before to', path: ['from'] })
    .refine((p) => p.to.getTime() - p.from.getTime() <= MAX_RANGE_DAYS * DAY_MS, {
      error: `range must be at most ${MAX_RANGE_DAYS} days`,
      path: ['to'],
    });

/**
 * Query of `GET /api/errors`: the range, time zone and filters of
 * `/api/stats`, `since`, `limit` (groups, 1–{@link MAX_ERROR_GROUPS}, default
 * 20) and `new=1` (only groups new since `since`). Unknown parameters are ignored.
 */
export const errorsParamsSchema = withRange(
  z.object({
    ...rangeShape,
    limit: count(1, MAX_ERROR_GROUPS, 20),
    new: z
      .enum(['0', '1', 'true', 'false'])
      .optional()
      .transform((v) => v === '1' || v === 'true'),
  }),
);

export type ErrorsParams = z.output<typeof errorsParamsSchema>;

/** An error fingerprint as stored: 16 lower-case hex digits. */
export const fingerprintSchema = z.string().regex(/^[0-9a-f]{16}$/, 'must be 16 lower-case hex digits');

/**
 * Query of `GET /api/errors/<fingerprint>`: the range, time zone and filters
 * (the figures and example requests are those of the range), `since`, and
 * `examples` (1–{@link MAX_ERROR_EXAMPLES}, default 10).
 */
export const errorDetailParamsSchema = withRange(
  z.object({
    ...rangeShape,
    fingerprint: fingerprintSchema,
    examples: count(1, MAX_ERROR_EXAMPLES, 10),
  }),
);

export type ErrorDetailParams = z.output<typeof errorDetailParamsSchema>;
