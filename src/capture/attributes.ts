/**
 * Custom attributes of a request (the `attributes` capture option): the app's
 * own flat `{ key: string | number | boolean }`, bounded by
 * {@link attributeLimits} and validated with zod in the capture batch. What
 * fails is dropped and counted, never thrown at the request.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { attributeLimits, attributeValueSchema, type Attributes } from '../schema/request-log.js';

/** What the `attributes` option may return: a flat object (undefined or null values are left out), or nothing. */
export type AttributesInput = Readonly<Record<string, string | number | boolean | null | undefined>> | null | undefined;

/**
 * The `attributes` capture option: called once per recorded request, after
 * its response finished, with the node:http request and response (Express's
 * own `req`/`res`, Fastify's `request.raw`/`reply.raw`, Hono's
 * `c.env.incoming`/`c.env.outgoing` on `@hono/node-server`).
 */
export type AttributesFunction = (req: IncomingMessage, res: ServerResponse) => AttributesInput;

/** Why attributes were dropped. */
export const attributeDropReasons = ['threw', 'not_object', 'invalid_key', 'invalid_value', 'too_many_keys', 'too_large'] as const;
export type AttributeDropReason = (typeof attributeDropReasons)[number];

/** Called for each request that lost attributes, once per reason; `detail` names what (a key, a type, a size). */
export type AttributeDropSink = (reason: AttributeDropReason, detail: string, error?: Error) => void;

const keySchema = z.string().regex(attributeLimits.key);

/** The attributes to store for one request (null for none), reporting what was dropped to `drop`. */
export function normalizeAttributes(input: unknown, drop: AttributeDropSink): Attributes | null {
  if (input === undefined || input === null) return null;
  if (typeof input !== 'object' || Array.isArray(input) || !isPlainObject(input)) {
    drop('not_object', Array.isArray(input) ? 'array' : typeof input === 'object' ? 'not a plain object' : typeof input);
    return null;
  }
  const kept: [string, string | number | boolean][] = [];
  const dropped: Partial<Record<AttributeDropReason, string>> = {};
  for (const [key, value] of Object.entries(input)) {
    if (value === undefined || value === null) continue;
    if (!keySchema.safeParse(key).success) dropped.invalid_key ??= key.slice(0, 80);
    else if (!attributeValueSchema.safeParse(value).success) dropped.invalid_value ??= key;
    else if (kept.length >= attributeLimits.maxKeys) dropped.too_many_keys ??= key;
    else kept.push([key, value as string | number | boolean]);
  }
  for (const [reason, detail] of Object.entries(dropped) as [AttributeDropReason, string][]) drop(reason, detail);
  if (kept.length === 0) return null;
  // fromEntries defines own properties: a `__proto__` key stays a key.
  const attributes = Object.fromEntries(kept);
  const bytes = Buffer.byteLength(JSON.stringify(attributes));
  if (bytes > attributeLimits.maxBytes) {
    drop('too_large', `${bytes} bytes`);
    return null;
  }
  return attributes;
}

/** Calls the app's function; a throw is reported as `threw` and gives no attributes. */
export function callAttributes(fn: AttributesFunction, req: IncomingMessage, res: ServerResponse, drop: AttributeDropSink): unknown {
  try {
    return fn(req, res);
  } catch (error) {
    drop('threw', error instanceof Error ? error.message.slice(0, 200) : String(error), error instanceof Error ? error : new Error(String(error)));
    return undefined;
  }
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}
