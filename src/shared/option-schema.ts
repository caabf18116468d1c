import { z } from 'zod';

/**
 * The one way pgpulse checks an option: a zod schema whose messages say what
 * is allowed, parsed here into an error naming the option, what is allowed
 * and the value passed: `${scope}: ${name} ${allowed}, got ${value}`.
 * Range checks throw a RangeError, type checks a TypeError (the caller picks).
 */

type ErrorClass = new (message: string, options?: ErrorOptions) => Error;

/** A finite number above zero (zod rejects NaN and ±Infinity). */
export const positiveNumber = z.number({ error: 'must be a positive number' }).positive();

/** A finite number, zero or more. */
export const nonNegativeNumber = z.number({ error: 'must be zero or more' }).nonnegative();

/** An integer ≥ `min`; its message says so, in `unit` when given (e.g. 'ms'). */
export function wholeNumber(min: number, unit = ''): z.ZodNumber {
  return z
    .number({ error: `must be a whole number${unit ? ` of ${unit}` : ''} ≥ ${min}` })
    .int()
    .min(min);
}

/** How a bad value reads in a message: numbers as JavaScript prints them (NaN, -1), strings and objects as JSON. */
export function showValue(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'symbol' || value === undefined) return String(value);
  if (typeof value === 'function') return 'a function';
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString();
  if (value instanceof RegExp) return String(value);
  try {
    return JSON.stringify(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/** `value` parsed by `schema` (defaults applied); else an `ErrorClass` (RangeError by default) `${scope}: ${name} ${allowed}, got ${value}`. */
export function parseOption<S extends z.ZodType>(scope: string, name: string, schema: S, value: unknown, ErrorClass: ErrorClass = RangeError): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw new ErrorClass(`${scope}: ${name} ${issuesText(result.error)}, got ${showValue(value)}`, { cause: result.error });
}

/**
 * `input` parsed by the object `schema` (defaults applied); else an
 * `ErrorClass` naming the first bad option: `${scope}: ${prefix}${path} ${allowed}, got ${value}`.
 */
export function parseOptions<S extends z.ZodType>(scope: string, schema: S, input: object, ErrorClass: ErrorClass = RangeError, prefix = ''): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const value = issue.path.reduce<unknown>((at, key) => (at as Record<PropertyKey, unknown> | undefined)?.[key], input);
  throw new ErrorClass(`${scope}: ${prefix}${issue.path.map(String).join('.')} ${issue.message}, got ${showValue(value)}`, { cause: result.error });
}

/** The messages of `error`'s issues, each once. */
function issuesText(error: z.ZodError): string {
  return [...new Set(error.issues.map((issue) => issue.message))].join('; ');
}
