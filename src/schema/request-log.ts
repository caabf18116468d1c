import { z } from 'zod';
import { requestLogColumnNames, requestLogColumns, requestLogShape, type RequestLogColumnName } from './columns.js';

export {
  attributeLimits,
  attributeValueSchema,
  consumerLimits,
  deviceTypes,
  errorLimits,
  MAX_TEXT_LENGTH,
  type Attributes,
  type DeviceType,
  type RequestError,
} from './columns.js';

/**
 * Zod schema of one captured request, derived from the column list
 * (`src/store/columns.ts`). Field names match the columns of
 * `pgpulse.request_logs`, so a row read back from Postgres, a NOTIFY message and
 * an NDJSON line from `pgpulse tail` all look the same.
 */
export const requestLogSchema = z.strictObject(requestLogShape);

/** One captured request, as broadcast on the PubSub and written to Postgres. */
export type RequestLog = z.infer<typeof requestLogSchema>;

/** A request row read back from Postgres: a RequestLog plus its identity `id`. */
export type StoredRequestLog = RequestLog & { id: number };

/** Fields {@link parseRequestLog} fills in when missing: the nullable columns and those with an input default. */
type DefaultedField = {
  [K in RequestLogColumnName]: (typeof requestLogColumns)[K]['nullable'] extends true
    ? K
    : 'inputDefault' extends keyof (typeof requestLogColumns)[K]
      ? K
      : never;
}[RequestLogColumnName];

/** Input accepted by {@link parseRequestLog}: optional fields may be omitted and dates may be ISO strings. */
export type RequestLogInput = Omit<RequestLog, DefaultedField> &
  Partial<Omit<Pick<RequestLog, DefaultedField>, 'inserted_at'>> & {
    inserted_at?: Date | string | number;
  };

const validDate = z.coerce.date().refine((d) => !Number.isNaN(d.getTime()), { error: 'must be a valid date' });

/** The schema of one field in {@link parseRequestLog}: with its default, and dates coerced. */
function inputField(name: RequestLogColumnName): z.ZodType {
  const column = requestLogColumns[name];
  const schema: z.ZodType = column.type === 'timestamptz' ? validDate : column.schema;
  const fallback = 'inputDefault' in column ? column.inputDefault : column.nullable ? null : undefined;
  return fallback === undefined ? schema : schema.default(fallback as never);
}

const inputSchema = z.strictObject(Object.fromEntries(requestLogColumnNames.map((name) => [name, inputField(name)]))) as unknown as z.ZodType<RequestLog>;

/**
 * Fills in what {@link parseRequestLog} would (null for missing nullable fields,
 * the column defaults) without validating: for code that builds rows it trusts,
 * such as the demo's synthetic history, so a new nullable column needs no edit there.
 */
export function completeRequestLog(input: RequestLogInput): RequestLog {
  const row: Record<string, unknown> = {};
  for (const name of requestLogColumnNames) {
    const column = requestLogColumns[name];
    const value = (input as Record<string, unknown>)[name];
    if (value !== undefined) row[name] = column.type === 'timestamptz' && !(value instanceof Date) ? new Date(value as string) : value;
    else if ('inputDefault' in column) row[name] = typeof column.inputDefault === 'function' ? column.inputDefault() : column.inputDefault;
    else row[name] = null;
  }
  return row as RequestLog;
}

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
