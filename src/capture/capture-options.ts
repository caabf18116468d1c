import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { MAX_TEXT_LENGTH } from '../schema/request-log.js';
import { defaultCountryHeaders } from './country.js';
import type { AttributesFunction } from './attributes.js';
import { consumerOptionShape, type ConsumerCaptureOptions } from './consumer.js';
import { errorOptionsShape, type ErrorCaptureOptions } from './error-options.js';
import type { DeriveContext } from './derive-log.js';
import { DEFAULT_CENSOR, redactOptionShape, type RedactCaptureOptions } from './redact-options.js';
import { compileIgnore, type IgnoreMatcher, type IgnoreResponseRule, type IgnoreRule } from './ignore.js';
import { compileTrustProxy, type TrustProxy } from './trust-proxy.js';

export interface CaptureOptions extends ConsumerCaptureOptions, ErrorCaptureOptions, RedactCaptureOptions {
  /**
   * Requests not recorded, added to {@link defaultIgnore} (OPTIONS requests,
   * static assets, the metrics endpoint and health checks): exact paths, regular expressions tested on
   * the path, or predicates on the whole request `({ method, path, headers }) => boolean`.
   * Default none beyond the defaults.
   */
  ignore?: IgnoreRule | readonly IgnoreRule[];
  /**
   * Keep the default ignore rules; set false so that `ignore` replaces them
   * (`ignore: []` then records everything, probe paths included unless
   * `probePaths` is given). Default true.
   */
  ignoreDefaults?: boolean;
  /**
   * Exact paths of the metrics endpoint and health probes, not recorded.
   * Replaces {@link defaultProbePaths}: extend it with
   * `probePaths: [...defaultProbePaths, '/ping']`, or record them all with `[]`.
   * Default {@link defaultProbePaths} (`/metrics`, `/health`, `/healthz`,
   * `/livez`, `/readyz`); none when `ignoreDefaults` is false.
   */
  probePaths?: readonly string[];
  /**
   * A late ignore, run after the response with what it sent: true when the
   * request is not recorded, e.g. 404s from bots
   * `({ statusCode, headers }) => statusCode === 404 && isbot(headers['user-agent'])`.
   * It sees `{ method, path, headers, statusCode, route, durationMs }`, runs in
   * the capture batch (off the request path) after the `ignore` rules, and must
   * be synchronous. A throwing predicate never reaches the app: it counts in
   * `stats.captureFailures` (event `captureError`) and the request is recorded.
   * Default none.
   */
  ignoreResponse?: IgnoreResponseRule;
  /**
   * Which proxies may set `X-Forwarded-For` for bare node:http and Hono, with
   * Express's `trust proxy` values: `true`, a hop count, addresses/CIDRs/`'loopback'`
   * (string or array), or `(address, hopIndex) => boolean`. The header is walked
   * from the right, so forged entries are never reached. Express uses its own
   * `app.set('trust proxy', …)` and Fastify its own `trustProxy` instead. Default false (socket peer).
   */
  trustProxy?: TrustProxy;
  /** Store the raw client IP in the `ip` column. Default false (only the daily-salted visitor id is stored). */
  storeIp?: boolean;
  /** Longest user agent, referer or path stored, in characters; longer ones are cut. Default 65,536. */
  maxTextLength?: number;
  /** Store the referer's query string and fragment (often tokens or search terms). Default false (cut). */
  storeRefererQuery?: boolean;
  /**
   * Header carrying a request id to store (used when the framework has none of
   * its own); false to ignore incoming ids. Fastify always has one
   * (`request.id`, which follows Fastify's own `requestIdHeader` and
   * `genReqId`): this replaces only Fastify's default `req-N`, and only when
   * set here. Default `x-request-id`.
   */
  requestIdHeader?: string | false;
  /**
   * Makes the id of a request that has none (from the framework or
   * `requestIdHeader`); in Fastify, replaces its default `req-N` only when set
   * here. Default `crypto.randomUUID`.
   */
  genRequestId?: () => string;
  /**
   * Read the visitor's country from CDN headers (`CF-IPCountry`,
   * `CloudFront-Viewer-Country`, `X-Vercel-IP-Country`, `X-Fastly-Country-Code`),
   * or from the header names given. Enable only when every request passes
   * through that CDN, otherwise clients can choose their country. Default false.
   */
  trustCountryHeaders?: boolean | readonly string[];
  /**
   * The app's own attributes of a request (plan, tenant, API version), stored
   * in the `attributes` jsonb column: `(req, res) => ({ plan: 'pro', seats: 3 })`.
   * Called once per recorded request, after its response finished (so
   * handlers can have set what it reads, e.g. Express `res.locals`), in the
   * capture batch, with the node:http request and response (Fastify:
   * `request.raw`/`reply.raw`; Hono: `c.env.incoming`/`c.env.outgoing` on
   * `@hono/node-server`). Must be synchronous. At most 16 keys matching
   * `/^[a-zA-Z_][a-zA-Z0-9_.-]{0,63}$/`, values strings of at most 256
   * characters, finite numbers or booleans (undefined and null are left out),
   * 2,048 bytes of JSON in all. Whatever fails is dropped and counted
   * (`stats.attributesDropped`, event `attributesDropped`); a throwing
   * function never fails the request. Default none (the column stays null).
   */
  attributes?: AttributesFunction;
}

const headerName = z
  .string()
  .regex(/^[!#$%&'*+.^_`|~0-9a-z-]+$/i, 'must be an HTTP header name')
  .transform((name) => name.toLowerCase());

const ignoreRule = z.union([z.string(), z.instanceof(RegExp), z.custom<IgnoreRule>((value) => typeof value === 'function')]);

const captureOptionsSchema = z.object({
  ignore: z.union([ignoreRule, z.array(ignoreRule)], { error: 'must be a path string, a RegExp or a function, or a list of them' }).optional(),
  ignoreDefaults: z.boolean().default(true),
  probePaths: z.array(z.string().startsWith('/', 'must be paths starting with /')).optional(),
  ignoreResponse: z.custom<IgnoreResponseRule>((value) => typeof value === 'function', 'must be a function ({ statusCode, path, … }) => boolean').optional(),
  storeIp: z.boolean().default(false),
  maxTextLength: z
    .number()
    .int()
    .min(1)
    .default(MAX_TEXT_LENGTH)
    .transform((n) => Math.min(n, MAX_TEXT_LENGTH)),
  storeRefererQuery: z.boolean().default(false),
  requestIdHeader: z.union([headerName, z.literal(false)], { error: 'must be an HTTP header name or false' }).default('x-request-id'),
  genRequestId: z.custom<() => string>((value) => typeof value === 'function', 'must be a function returning a string').optional(),
  trustCountryHeaders: z.union([z.boolean(), z.array(headerName)], { error: 'must be a boolean or a list of HTTP header names' }).default(false),
  attributes: z.custom<AttributesFunction>((value) => typeof value === 'function', 'must be a function (req, res) => ({ key: value })').optional(),
  ...consumerOptionShape,
  ...errorOptionsShape,
  ...redactOptionShape,
});

/** Capture settings checked and compiled once, at `createPulse()`. */
export interface ResolvedCapture {
  ignore: IgnoreMatcher | undefined;
  ignoreResponse: IgnoreResponseRule | undefined;
  context: Omit<DeriveContext, 'nodeId' | 'visitorIds' | 'sessions' | 'dropAttributes' | 'rejectRefererHost' | 'dropConsumer' | 'dropError' | 'redactFailed'>;
}

/** Validates capture options; throws one error naming every bad option. */
export function resolveCaptureOptions(options: CaptureOptions): ResolvedCapture {
  const parsed = captureOptionsSchema.safeParse(options);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ');
    throw new TypeError(`pgpulse: invalid capture options: ${detail}`, { cause: parsed.error });
  }
  const o = parsed.data;
  const countries = o.trustCountryHeaders;
  return {
    ignore: compileIgnore(options.ignore, o.ignoreDefaults, o.probePaths),
    ignoreResponse: o.ignoreResponse,
    context: {
      trust: compileTrustProxy(options.trustProxy),
      storeIp: o.storeIp,
      storeRefererQuery: o.storeRefererQuery,
      maxTextLength: o.maxTextLength,
      requestIdHeader: o.requestIdHeader,
      genRequestId: o.genRequestId ?? randomUUID,
      requestIdOptionsSet: { header: options.requestIdHeader !== undefined, gen: o.genRequestId !== undefined },
      countryHeaders: countries === true ? defaultCountryHeaders : countries === false ? [] : countries,
      attributes: o.attributes,
      consumer: o.consumer,
      captureErrors: o.captureErrors,
      redactErrorMessage: o.redactErrorMessage,
      redact: o.redact,
      censor: o.redact?.censor ?? DEFAULT_CENSOR,
    },
  };
}
