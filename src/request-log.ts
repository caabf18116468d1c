import { z } from 'zod';

/** Device classes a request can be attributed to. */
export const deviceTypes = ['desktop', 'mobile', 'tablet', 'bot'] as const;
export type DeviceType = (typeof deviceTypes)[number];

/** Longest text stored for any single header-derived field, in characters. */
export const MAX_TEXT_LENGTH = 65_536;

const text = (max: number) =>
  z
    .string()
    .max(max)
    .refine((value) => !value.includes('\u0000'), { message: 'must not contain NUL (\\u0000) characters' });

const optionalText = (max: number) => text(max).nullable();

/**
 * Zod schema of one captured request. Field names match the columns of
 * `pgpulse.request_logs`, so a row read back from Postgres, a NOTIFY message and
 * an NDJSON line from `pgpulse tail` all look the same.
 */
export const requestLogSchema = z.strictObject({
  request_id: text(200).min(1),
  method: text(32).min(1),
  /** Raw path without the query string. */
  path: text(MAX_TEXT_LENGTH).min(1),
  /** Framework route pattern such as `/users/:id`; null when unknown. */
  route: optionalText(2048),
  status_code: z.number().int().min(100).max(999),
  /** Time from request start to response finish, in milliseconds. */
  duration_ms: z.number().finite().nonnegative(),
  /** Response body size in bytes; null when unknown (aborted before any byte). */
  response_bytes: z.number().int().nonnegative().nullable(),
  user_agent: optionalText(MAX_TEXT_LENGTH),
  referer: optionalText(MAX_TEXT_LENGTH),
  device_type: z.enum(deviceTypes),
  /** Daily-salted hash of IP and user agent; null when no IP was known. */
  visitor_id: optionalText(128),
  session_id: optionalText(128),
  /** Process that served the request (and wrote the row). */
  node_id: text(200).min(1),
  /** Raw client IP; only set when the app opts in with `storeIp: true`. */
  ip: optionalText(64),
  /** When the request started. */
  inserted_at: z.date(),
});

/** One captured request, as broadcast on the PubSub and written to Postgres. */
export type RequestLog = z.infer<typeof requestLogSchema>;

/** A request row read back from Postgres: a RequestLog plus its identity `id`. */
export type StoredRequestLog = RequestLog & { id: number };

/** Input accepted by {@link parseRequestLog}: optional fields may be omitted and dates may be ISO strings. */
export type RequestLogInput = Omit<
  RequestLog,
  'route' | 'response_bytes' | 'user_agent' | 'referer' | 'visitor_id' | 'session_id' | 'ip' | 'inserted_at' | 'device_type'
> &
  Partial<Pick<RequestLog, 'route' | 'response_bytes' | 'user_agent' | 'referer' | 'visitor_id' | 'session_id' | 'ip' | 'device_type'>> & {
    inserted_at?: Date | string | number;
  };

const inputSchema = requestLogSchema.extend({
  route: requestLogSchema.shape.route.default(null),
  response_bytes: requestLogSchema.shape.response_bytes.default(null),
  user_agent: requestLogSchema.shape.user_agent.default(null),
  referer: requestLogSchema.shape.referer.default(null),
  visitor_id: requestLogSchema.shape.visitor_id.default(null),
  session_id: requestLogSchema.shape.session_id.default(null),
  ip: requestLogSchema.shape.ip.default(null),
  device_type: requestLogSchema.shape.device_type.default('desktop'),
  inserted_at: z.coerce.date().refine((d) => !Number.isNaN(d.getTime()), { message: 'must be a valid date' }).default(() => new Date()),
});

/** Error thrown for a malformed RequestLog; `issues` lists every offending field. */
export class InvalidRequestLogError extends Error {
  override readonly name = 'InvalidRequestLogError';
  constructor(
    readonly issues: readonly { path: string; message: string }[],
    options?: ErrorOptions,
  ) {
    super(`Invalid RequestLog: ${issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ')}`, options);
  }
}

/**
 * Validates and normalises a RequestLog. Throws {@link InvalidRequestLogError}
 * naming every bad field.
 */
export function parseRequestLog(input: unknown): RequestLog {
  const result = inputSchema.safeParse(input);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message }));
  throw new InvalidRequestLogError(issues, { cause: result.error });
}
