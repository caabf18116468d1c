/**
 * The consumer of a request (the `consumer` capture option): who called — an
 * API key's owner, a tenant, a user — as the app names them, with an optional
 * display name and group. Called in the capture batch, after the response
 * finished, never on the request path; validated with zod and bounded by
 * {@link consumerLimits}. What fails is dropped and counted, never thrown at
 * the request.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { requestLogColumns } from '../schema/columns.js';
import { asError, thrownDetail } from './drop-counter.js';

/** What the `consumer` option may return: an id (string or integer), `{ id, name?, group? }`, or nothing (no consumer). */
export type ConsumerInput = string | number | { id: string | number; name?: string | null; group?: string | null } | null | undefined;

/**
 * The `consumer` capture option: called once per recorded request, after its
 * response finished, with the node:http request and response (Express's own
 * `req`/`res`, Fastify's `request.raw`/`reply.raw`, Hono's
 * `c.env.incoming`/`c.env.outgoing` on `@hono/node-server`).
 */
export type ConsumerFunction = (req: IncomingMessage, res: ServerResponse) => ConsumerInput;

/** The consumer columns of a row. */
export interface ConsumerColumns {
  consumer_id: string | null;
  consumer_name: string | null;
  consumer_group: string | null;
}

/** Why a consumer was dropped. */
export const consumerDropReasons = ['threw', 'invalid'] as const;
export type ConsumerDropReason = (typeof consumerDropReasons)[number];

/** Told about each request whose consumer was dropped; `detail` says what was wrong. */
export type ConsumerDropSink = (reason: ConsumerDropReason, detail: string, error?: Error) => void;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const id = z.union([z.number().int().transform(String), z.string().trim()]).pipe(requestLogColumns.consumer_id.schema.unwrap());
const optionalText = (schema: z.ZodType<string, string>) =>
  z
    .string()
    .trim()
    .nullish()
    .transform((value) => (value === '' || value === undefined ? null : value))
    .pipe(schema.nullable());

const consumerSchema = z
  .union([
    id.transform((value) => ({ id: value })),
    z.strictObject({
      id,
      name: optionalText(requestLogColumns.consumer_name.schema.unwrap()),
      group: optionalText(requestLogColumns.consumer_group.schema.unwrap()),
    }),
  ])
  .refine((c) => ![c.id, 'name' in c ? c.name : null, 'group' in c ? c.group : null].some((v) => typeof v === 'string' && LONE_SURROGATE.test(v)), {
    error: 'must not contain lone UTF-16 surrogates',
  });

const NONE: ConsumerColumns = { consumer_id: null, consumer_name: null, consumer_group: null };

/** The consumer columns of one request, reporting what was dropped to `drop`. */
export function normalizeConsumer(input: unknown, drop: ConsumerDropSink): ConsumerColumns {
  if (input === undefined || input === null || input === '') return NONE;
  const parsed = consumerSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    drop('invalid', issue ? `${issue.path.join('.') || 'consumer'}: ${issue.message}`.slice(0, 200) : 'invalid');
    return NONE;
  }
  const c = parsed.data;
  return { consumer_id: c.id, consumer_name: 'name' in c ? (c.name ?? null) : null, consumer_group: 'group' in c ? (c.group ?? null) : null };
}

/** Calls the app's function; a throw is reported as `threw` and gives no consumer. */
export function callConsumer(fn: ConsumerFunction, req: IncomingMessage, res: ServerResponse, drop: ConsumerDropSink): unknown {
  try {
    return fn(req, res);
  } catch (error) {
    drop('threw', thrownDetail(error), asError(error));
    return undefined;
  }
}

/** The `consumer` capture option. */
export interface ConsumerCaptureOptions {
  /**
   * Who called, per request: `(req, res) => id | { id, name?, group? } | undefined`
   * — an API key's owner, a tenant, a user id. Stored in the `consumer_id`,
   * `consumer_name` and `consumer_group` columns; the dashboard and the stats
   * API break traffic down and filter by it. Called once per recorded request,
   * after its response finished, in the capture batch (never on the request
   * path), with the node:http request and response (Fastify:
   * `request.raw`/`reply.raw`; Hono: `c.env.incoming`/`c.env.outgoing` on
   * `@hono/node-server`). Must be synchronous. The id is a string of 1–128
   * characters (or an integer), the name at most 256 and the group at most
   * 128 characters (trimmed; no NUL). Whatever fails is dropped and counted
   * (`stats.consumersDropped`, event `consumerDropped`); a throwing function
   * never fails the request. The id is stored as given: hash it when it is
   * personal data (see the README). Default none (the columns stay null).
   */
  consumer?: ConsumerFunction;
}

export const consumerOptionShape = {
  consumer: z.custom<ConsumerFunction>((value) => typeof value === 'function', 'must be a function (req, res) => id or { id, name, group }').optional(),
};
