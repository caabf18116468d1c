import type { ColumnType } from 'kysely';
import { z } from 'zod';

/**
 * The one definition of a request row: every column of `pgpulse.request_logs`
 * that a RequestLog carries, in table order, with its Postgres type, its zod
 * schema and how it travels (batch insert, bridge tuple, row read back).
 * Everything else derives from this list: `requestLogSchema` and `RequestLog`,
 * the Kysely table type, the unnest insert, the bridge message, the row fetches,
 * recent rows and the NDJSON of `pgpulse tail`.
 *
 * Adding a column = add it here + write a migration that adds it to
 * `pgpulse.request_logs` (test/store/columns.test.ts fails until both agree).
 */

/** Device classes a request can be attributed to. */
export const deviceTypes = ['desktop', 'mobile', 'tablet', 'bot'] as const;
export type DeviceType = (typeof deviceTypes)[number];

/** Longest text stored for any single header-derived field, in characters. */
export const MAX_TEXT_LENGTH = 65_536;

/** Text of at most `max` characters, never containing NUL (Postgres text cannot hold it). */
export const text = (max: number) =>
  z
    .string()
    .max(max)
    .refine((value) => !value.includes('\u0000'), { error: 'must not contain NUL (\\u0000) characters' });

/** Limits of the custom attributes of a request (the `attributes` capture option). */
export const attributeLimits = {
  /** Most attributes per request. */
  maxKeys: 16,
  /** What an attribute name looks like: a letter or `_`, then up to 63 letters, digits, `_`, `.` or `-`. */
  key: /^[a-zA-Z_][a-zA-Z0-9_.-]{0,63}$/,
  /** Longest string value, in characters. */
  maxStringLength: 256,
  /** Largest attribute object, in bytes of its JSON. */
  maxBytes: 2_048,
} as const;

/** A UTF-16 surrogate without its pair: JSON escapes it as `\\udXXX`, which jsonb refuses. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** One attribute value: a string (at most 256 characters, no NUL, well-formed UTF-16), a finite number or a boolean. */
export const attributeValueSchema = z.union([
  text(attributeLimits.maxStringLength).refine((value) => !LONE_SURROGATE.test(value), { error: 'must not contain lone UTF-16 surrogates' }),
  // zod numbers are finite: Infinity and NaN fail.
  z.number(),
  z.boolean(),
]);
export type AttributeValue = z.output<typeof attributeValueSchema>;

/** Custom attributes of a request as stored: a small flat object (see {@link attributeLimits}). */
export const attributesSchema = z
  .record(z.string().regex(attributeLimits.key, 'must be an attribute name (letter or _, then up to 63 of [a-zA-Z0-9_.-])'), attributeValueSchema)
  .refine((value) => Object.keys(value).length <= attributeLimits.maxKeys, { error: `must have at most ${attributeLimits.maxKeys} keys` })
  .refine((value) => Buffer.byteLength(JSON.stringify(value)) <= attributeLimits.maxBytes, {
    error: `must be at most ${attributeLimits.maxBytes} bytes as JSON`,
  });
export type Attributes = z.output<typeof attributesSchema>;

/** Limits of what is kept of a request's exception (the `error` column). */
export const errorLimits = {
  /** Longest class name, in characters. */
  maxClassLength: 128,
  /** Longest message, in characters (after the app's `redactErrorMessage`). */
  maxMessageLength: 1_024,
  /** Most stack frames kept (the top ones). */
  maxFrames: 10,
  /** Longest stack frame line, in characters. */
  maxFrameLength: 300,
} as const;

/** The exception of a request as stored: class, bounded message and top stack frames (never bodies). */
export const requestErrorSchema = z.strictObject({
  class: text(errorLimits.maxClassLength).min(1),
  message: text(errorLimits.maxMessageLength),
  frames: z.array(text(errorLimits.maxFrameLength)).max(errorLimits.maxFrames),
});
export type RequestError = z.output<typeof requestErrorSchema>;

/** An error fingerprint: 16 lower-case hex digits. */
export const ERROR_FINGERPRINT_PATTERN = /^[0-9a-f]{16}$/;

/** Limits of the consumer of a request (the `consumer` capture option). */
export const consumerLimits = {
  /** Longest consumer id, in characters. */
  maxIdLength: 128,
  /** Longest consumer name, in characters. */
  maxNameLength: 256,
  /** Longest consumer group, in characters. */
  maxGroupLength: 128,
} as const;

/**
 * How one Postgres type is written and read: `array` is the cast of the
 * unnest insert's array parameter, `informationSchema` the type name
 * `information_schema.columns.data_type` reports.
 */
interface PgType {
  array: string;
  informationSchema: string;
}

/** The Postgres types request columns use. */
export const pgTypes = {
  text: { array: 'text[]', informationSchema: 'text' },
  smallint: { array: 'int2[]', informationSchema: 'smallint' },
  double: { array: 'float8[]', informationSchema: 'double precision' },
  /** int8: node-postgres reads it as text (it may exceed 2^53); rows convert it to a number. */
  bigint: { array: 'int8[]', informationSchema: 'bigint' },
  /** Inserted as ISO 8601 text, carried on the bridge as epoch milliseconds. */
  timestamptz: { array: 'timestamptz[]', informationSchema: 'timestamp with time zone' },
  /** A JSON object: inserted and COPYed as JSON text, carried on the bridge as JSON, read back parsed. */
  jsonb: { array: 'jsonb[]', informationSchema: 'jsonb' },
} as const satisfies Record<string, PgType>;
export type PgTypeName = keyof typeof pgTypes;

/** One column of the request row. */
export interface ColumnDefinition<T extends PgTypeName = PgTypeName, S extends z.ZodType = z.ZodType> {
  type: T;
  /** Validates the value of a RequestLog (nullable columns include null). */
  schema: S;
  nullable: boolean;
  /**
   * What {@link requestLogInputSchema} fills in when the field is missing:
   * null for nullable columns unless set; a function is called per row.
   */
  inputDefault?: z.output<S> | (() => z.output<S>);
  /** Never sent to browsers (recent rows of the dashboard). Default false. */
  private?: boolean;
  /**
   * The bridge sends the column as null when it equals the message's origin
   * node id, and puts it last in the row tuple. Only `node_id`.
   */
  origin?: boolean;
}

type Extra<S extends z.ZodType> = Pick<ColumnDefinition<PgTypeName, S>, 'inputDefault' | 'private' | 'origin'>;

/** A NOT NULL column; `extra` keeps its literal type, so `RequestLogInput` knows which fields have defaults. */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- `{}`: no extra properties unless given
const required = <T extends PgTypeName, S extends z.ZodType, const E extends Extra<S> = {}>(type: T, schema: S, extra?: E) =>
  ({ type, schema, nullable: false, ...extra }) as { type: T; schema: S; nullable: false } & E;
/** A nullable column (its schema accepts null; a missing input field defaults to null). */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- `{}`: no extra properties unless given
const nullable = <T extends PgTypeName, S extends z.ZodType, const E extends Extra<z.ZodNullable<S>> = {}>(type: T, schema: S, extra?: E) =>
  ({ type, schema: schema.nullable(), nullable: true, ...extra }) as { type: T; schema: z.ZodNullable<S>; nullable: true } & E;

/** A W3C trace id as the `trace_id` column takes it: 32 lower-case hex digits. */
export const TRACE_ID_PATTERN = /^[0-9a-f]{32}$/;
/** A W3C span id as the `span_id` column takes it: 16 lower-case hex digits. */
export const SPAN_ID_PATTERN = /^[0-9a-f]{16}$/;

/** The columns of a RequestLog, in table order (`id` and `tx_id` are set by Postgres). */
export const requestLogColumns = {
  request_id: required('text', text(200).min(1)),
  method: required('text', text(32).min(1)),
  /** Raw path without the query string. */
  path: required('text', text(MAX_TEXT_LENGTH).min(1)),
  /** Framework route pattern such as `/users/:id`; null when unknown. */
  route: nullable('text', text(2048)),
  status_code: required('smallint', z.number().int().min(100).max(999)),
  /** Time from request start to response finish, in milliseconds. */
  duration_ms: required('double', z.number().nonnegative()),
  /** Response body size in bytes; null when unknown (aborted before any byte). */
  response_bytes: nullable('bigint', z.number().int().nonnegative()),
  user_agent: nullable('text', text(MAX_TEXT_LENGTH)),
  referer: nullable('text', text(MAX_TEXT_LENGTH)),
  device_type: required('text', z.enum(deviceTypes), { inputDefault: 'desktop' }),
  /** Daily-salted hash of IP and user agent; null when no IP was known. */
  visitor_id: nullable('text', text(128)),
  session_id: nullable('text', text(128)),
  /** Process that served the request (and wrote the row). */
  node_id: required('text', text(200).min(1), { origin: true }),
  /** Raw client IP; only set when the app opts in with `storeIp: true`. */
  ip: nullable('text', text(64), { private: true }),
  /** When the request started. */
  inserted_at: required('timestamptz', z.date(), { inputDefault: () => new Date() }),
  /** Lower-case host of an absolute referer, for grouping; null otherwise. */
  referer_host: nullable('text', text(253)),
  /** Browser family (`Chrome`, `Safari`, `Firefox`, `Edge`, …, `Other`); null for bots and missing user agents. */
  browser: nullable('text', text(32)),
  /** OS family (`Windows`, `macOS`, `iOS`, `Android`, `Linux`, `Chrome OS`, …, `Other`); null for bots and missing user agents. */
  os: nullable('text', text(32)),
  /** ISO 3166-1 alpha-2 country from a trusted CDN header (`trustCountryHeaders`); null otherwise. */
  country: nullable('text', z.string().regex(/^[A-Z]{2}$/, 'must be an upper-case ISO 3166-1 alpha-2 code')),
  /** W3C trace id (32 lower-case hex digits): the active OpenTelemetry span's, else the `traceparent` header's; null otherwise. */
  trace_id: nullable('text', z.string().regex(TRACE_ID_PATTERN, 'must be 32 lower-case hex digits')),
  /** The span id that came with `trace_id` (16 lower-case hex digits). */
  span_id: nullable('text', z.string().regex(SPAN_ID_PATTERN, 'must be 16 lower-case hex digits')),
  /** The app's own attributes (`attributes` capture option), a flat object within {@link attributeLimits}; null when none. */
  attributes: nullable('jsonb', attributesSchema),
  /** Who called: the id the app's `consumer` option returned (an API key's owner, a tenant, a user); null when none. */
  consumer_id: nullable('text', text(consumerLimits.maxIdLength).min(1)),
  /** The consumer's display name, when the app gave one. */
  consumer_name: nullable('text', text(consumerLimits.maxNameLength).min(1)),
  /** The consumer's group (a plan, an organisation), when the app gave one. */
  consumer_group: nullable('text', text(consumerLimits.maxGroupLength).min(1)),
  /** Fingerprint of the request's exception (16 hex digits, stable across deploys), grouping it in `pgpulse.errors`; null when none. */
  error_fingerprint: nullable('text', z.string().regex(ERROR_FINGERPRINT_PATTERN, 'must be 16 lower-case hex digits')),
  /** The exception behind a 5xx or reported with `pulse.captureError()`: class, bounded message, top frames (see {@link errorLimits}). */
  error: nullable('jsonb', requestErrorSchema),
} as const;

export type RequestLogColumns = typeof requestLogColumns;
export type RequestLogColumnName = keyof RequestLogColumns;

/** Column names in table order. */
export const requestLogColumnNames = Object.keys(requestLogColumns) as RequestLogColumnName[];

/** Columns Postgres fills in itself, after the RequestLog's columns. */
export const generatedColumns = {
  /** Row identity, from `pgpulse.request_logs_id_seq`. */
  id: 'bigint',
  /** Inserting transaction (xid8), for catch-up by snapshot. */
  tx_id: 'xid8',
} as const;

/** The zod shape of a RequestLog, one entry per column. */
export type RequestLogShape = { [K in RequestLogColumnName]: RequestLogColumns[K]['schema'] };

export const requestLogShape = Object.fromEntries(requestLogColumnNames.map((name) => [name, requestLogColumns[name].schema])) as RequestLogShape;

type ValueOf<K extends RequestLogColumnName> = z.output<RequestLogColumns[K]['schema']>;
type NullIf<K extends RequestLogColumnName> = RequestLogColumns[K]['nullable'] extends true ? null : never;

/**
 * Kysely column type of one column: int8 is read as text; timestamps are
 * written as a Date or ISO text.
 */
type KyselyColumn<K extends RequestLogColumnName> = RequestLogColumns[K]['type'] extends 'bigint'
  ? ColumnType<string | NullIf<K>, ValueOf<K>, ValueOf<K>>
  : RequestLogColumns[K]['type'] extends 'timestamptz'
    ? ColumnType<ValueOf<K>, ValueOf<K> | string, ValueOf<K> | string>
    : ValueOf<K>;

/** Kysely types of the RequestLog columns of `pgpulse.request_logs`. */
export type RequestLogKyselyColumns = { [K in RequestLogColumnName]: KyselyColumn<K> };

/** The value of one column of a row node-postgres read (int8 arrives as text). */
export function fromDatabase(name: RequestLogColumnName, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  const type = requestLogColumns[name].type;
  if (type === 'bigint') return Number(value);
  // node-postgres parses jsonb itself; text would only come from a client without its type parsers.
  return type === 'jsonb' && typeof value === 'string' ? (JSON.parse(value) as unknown) : value;
}

/** Whether a column's values need {@link toInsertValue} before they are bound (timestamps, JSON). */
export function needsInsertEncoding(name: RequestLogColumnName): boolean {
  const type = requestLogColumns[name].type;
  return type === 'timestamptz' || type === 'jsonb';
}

/** The value of one column as bound in the unnest insert's array (timestamps as ISO text, JSON as its text). */
export function toInsertValue(name: RequestLogColumnName, value: unknown): unknown {
  const type = requestLogColumns[name].type;
  if (type === 'timestamptz' && value instanceof Date) return value.toISOString();
  if (type === 'jsonb' && value !== null && value !== undefined) return JSON.stringify(value);
  return value;
}

/** The value of one column in a bridge tuple (timestamps as epoch milliseconds). */
export function toBridgeValue(name: RequestLogColumnName, value: unknown): unknown {
  return requestLogColumns[name].type === 'timestamptz' && value instanceof Date ? value.getTime() : value;
}

/** The value of one column read from a bridge tuple. */
export function fromBridgeValue(name: RequestLogColumnName, value: unknown): unknown {
  return requestLogColumns[name].type === 'timestamptz' && typeof value === 'number' ? new Date(value) : value;
}
