/**
 * The `redact` capture option: what of a request must never be broadcast or
 * stored (tokens in paths, e-mails in attributes, ids in user agents), in the
 * terms pino's `redact` uses — field names, a `censor` and `remove` — plus URL
 * path patterns and a function. Checked with zod at `createPulse()`.
 */
import { z } from 'zod';
import type { Attributes } from '../schema/columns.js';
import { compilePathPatterns, MAX_PATH_PATTERNS, parsePathPattern, type PathPattern, type PathPatterns } from './path-patterns.js';

/** The fields of a request that redaction sees and may change; named like the columns (`error_message` is the `error` column's message). */
export interface RedactableFields {
  path: string;
  referer: string | null;
  referer_host: string | null;
  user_agent: string | null;
  request_id: string;
  attributes: Attributes | null;
  consumer_id: string | null;
  consumer_name: string | null;
  consumer_group: string | null;
  error_message: string | null;
}

/** The names of {@link RedactableFields}. */
export const redactableFields = [
  'path',
  'referer',
  'referer_host',
  'user_agent',
  'request_id',
  'attributes',
  'consumer_id',
  'consumer_name',
  'consumer_group',
  'error_message',
] as const satisfies readonly (keyof RedactableFields)[];
export type RedactableField = (typeof redactableFields)[number];

/** What `redact.fields` names: a field, or one custom attribute (`attributes.email`; `attributes.*` is every one). */
export type RedactFieldPath = RedactableField | `attributes.${string}`;

/** What else {@link RedactFunction} may decide on: the request's method, route and status (read only). */
export interface RedactRequest {
  method: string;
  route: string | null;
  status_code: number;
}

/**
 * The `redact.fn` function: gets the fields after `paths` and `fields` were
 * applied, and returns those to store (a field left out is kept as it is), or
 * changes the object it got and returns nothing.
 */
// void: a function that changes `fields` and returns nothing must type-check.
// eslint-disable-next-line @typescript-eslint/no-invalid-void-type
export type RedactFunction = (fields: RedactableFields, request: RedactRequest) => Partial<RedactableFields> | void;

/** The `redact` capture option. */
export interface RedactOptions {
  /**
   * URL path patterns whose parameters are secrets, applied to `path` and to
   * the path of `referer`: `:name` masks one segment, `*name` (last) masks
   * the rest of the path, `*` matches any one segment and keeps it; other
   * segments match case-insensitively; a trailing slash matches too; the
   * first matching pattern wins. At most 256 patterns of at most 32 segments.
   * `['/reset/:token']` stores `/reset/abc123` as `/reset/[redacted]`.
   * Default none.
   */
  paths?: readonly string[];
  /**
   * Fields masked whole (pino's `redact.paths`): `user_agent`, `referer`,
   * `referer_host`, `request_id`, `path`, `consumer_id`, `consumer_name`,
   * `consumer_group`, `error_message`, `attributes` (every value),
   * `attributes.<key>` or `attributes.*`. Default none.
   */
  fields?: readonly RedactFieldPath[];
  /**
   * Your own redaction, after `paths` and `fields`, in the capture batch:
   * `(fields, { method, route, status_code }) => fields`. Must be
   * synchronous. What it returns is checked like any captured value (bounded,
   * no NUL; attributes as the `attributes` option's); an invalid field is
   * masked. A throwing function never reaches the app: every field it would
   * have seen is masked (the path becomes its route when the framework knows
   * it, else `/[redacted]`; attributes are dropped), counted in
   * `stats.redactionsFailed` and reported by the `redactionFailed` event. So
   * an unredacted value is never stored. Default none.
   */
  fn?: RedactFunction;
  /** What a masked value becomes (pino's `censor`): 1–64 characters, no `/`, `?`, `#` or NUL. Default `'[redacted]'`. */
  censor?: string;
  /**
   * Remove masked fields instead (pino's `remove`): nullable ones become
   * null, masked attributes are left out; `path` and `request_id`, which a
   * row always has, still get the censor. Default false.
   */
  remove?: boolean;
}

/** What a masked value becomes unless `redact.censor` says otherwise. */
export const DEFAULT_CENSOR = '[redacted]';

/** Redaction settings checked and compiled once. */
export interface Redactor {
  paths: PathPatterns | undefined;
  /** Fields masked whole (`attributes` meaning every attribute). */
  fields: ReadonlySet<RedactableField>;
  /** Attribute keys masked (`attributes.<key>`). */
  attributeKeys: ReadonlySet<string>;
  fn: RedactFunction | undefined;
  censor: string;
  remove: boolean;
}

const pathPatternSchema = z.string().transform((source, ctx): PathPattern => {
  const parsed = parsePathPattern(source);
  if (typeof parsed === 'string') {
    ctx.addIssue({ code: 'custom', message: `${JSON.stringify(source.slice(0, 80))} ${parsed}` });
    return z.NEVER;
  }
  return parsed;
});

const ATTRIBUTE_FIELD = /^attributes\.(?:\*|[a-zA-Z_][a-zA-Z0-9_.-]{0,63})$/;
const fieldSchema = z.string().refine((field) => (redactableFields as readonly string[]).includes(field) || ATTRIBUTE_FIELD.test(field), {
  error: `must be one of ${redactableFields.join(', ')}, attributes.<key> or attributes.*`,
});

const redactSchema = z
  .strictObject({
    paths: z.array(pathPatternSchema).max(MAX_PATH_PATTERNS).optional(),
    fields: z.array(fieldSchema).optional(),
    fn: z.custom<RedactFunction>((value) => typeof value === 'function', 'must be a function (fields, request) => fields').optional(),
    censor: z
      .string()
      .min(1)
      .max(64)
      .regex(/^[^/?#]+$/, 'must not contain /, ?, # or NUL')
      .refine((censor) => !censor.includes('\u0000'), 'must not contain /, ?, # or NUL')
      .default(DEFAULT_CENSOR),
    remove: z.boolean().default(false),
  })
  .transform((o): Redactor => {
    const fields = new Set<RedactableField>();
    const attributeKeys = new Set<string>();
    for (const field of o.fields ?? []) {
      if (field === 'attributes.*') fields.add('attributes');
      else if (field.startsWith('attributes.')) attributeKeys.add(field.slice('attributes.'.length));
      else fields.add(field as RedactableField);
    }
    return {
      paths: o.paths && o.paths.length > 0 ? compilePathPatterns(o.paths) : undefined,
      fields,
      attributeKeys,
      fn: o.fn,
      censor: o.censor,
      remove: o.remove,
    };
  });

/** The `redact` capture option. */
export interface RedactCaptureOptions {
  /**
   * Keeps secrets out of everything pgpulse broadcasts and stores (the live
   * dashboard, the bridge, `pgpulse tail`, the export): URL path patterns
   * (`paths: ['/reset/:token']`), whole fields (`fields: ['attributes.email']`)
   * and your own function (`fn`), applied in that order in the capture batch,
   * before a request is published. Error messages go through
   * `redactErrorMessage` first. See {@link RedactOptions}. Default none.
   *
   * @example
   * createPulse({ connectionString, redact: { paths: ['/reset/:token', '/invite/:secret'], fields: ['attributes.email'] } });
   */
  redact?: RedactOptions;
}

export const redactOptionShape = { redact: redactSchema.optional() };
