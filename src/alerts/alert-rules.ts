import { z } from 'zod';

/** Kinds of alert rule (see {@link AlertRule}). */
export const alertKinds = ['errorRate', 'p95', 'trafficDrop', 'noTraffic', 'newErrorGroup'] as const;
export type AlertKind = (typeof alertKinds)[number];

/** `route` value of a rule evaluated for every route separately (one alert per route). */
export const EACH_ROUTE = '*';

/** Longest window of a per-route rule: per-route windows are read from raw rows (the minute rollups keep all routes together). */
export const MAX_ROUTE_WINDOW_MS = 3_600_000;

interface RuleBase {
  /** Unique name of the rule (letters, digits, `_`, `.`, `-`, `:`, at most 100 characters); alerts and notifications carry it. */
  name: string;
  /** The rule looks at the requests of the last `windowMs`. Default 300,000 ms (5 min); at least 1,000 ms, at most 1 day (1 h per route). */
  windowMs?: number;
}

interface ThresholdRule extends RuleBase {
  /** No alert (and a firing one resolves) while the window holds fewer requests than this. Default 20. */
  minRequests?: number;
  /**
   * Resolving needs the value back beyond the threshold by this fraction of it
   * (an error-rate rule at 0.05 with 0.1 resolves at 0.045 or less), so a value
   * hovering at the threshold does not flap. Default 0.1.
   */
  hysteresis?: number;
  /** A route pattern (`/orders/:id`) to watch only it, or `'*'` for an alert per route. Default: all requests together. */
  route?: string;
}

/** Fires when the share of 5xx answers in the window is above `threshold` (0–1). */
export interface ErrorRateRule extends ThresholdRule {
  kind: 'errorRate';
  threshold: number;
}

/** Fires when the 95th percentile of durations in the window is above `thresholdMs`. */
export interface P95Rule extends ThresholdRule {
  kind: 'p95';
  thresholdMs: number;
}

/** Fires when the window holds less than `threshold` (0–1) of the requests of the same window `periodMs` earlier. */
export interface TrafficDropRule extends RuleBase {
  kind: 'trafficDrop';
  threshold: number;
  /** How far back the window compared with lies. Default 86,400,000 ms (the same time yesterday); at least `windowMs`. */
  periodMs?: number;
  /** No alert (and a firing one resolves) while that earlier window holds fewer requests than this. Default 100. */
  minRequests?: number;
  /** Resolving needs the ratio back above `threshold · (1 + hysteresis)`. Default 0.1. */
  hysteresis?: number;
}

/** Fires when no request arrived for `windowMs`, after traffic in the day before; resolves at the next request. */
export interface NoTrafficRule extends RuleBase {
  kind: 'noTraffic';
}

/** Fires once for each error group first seen in the last `windowMs`; resolves when that group has not recurred for `windowMs`. */
export interface NewErrorGroupRule extends RuleBase {
  kind: 'newErrorGroup';
}

/** An alert rule of `createPulse({ alerts: [...] })`. */
export type AlertRule = ErrorRateRule | P95Rule | TrafficDropRule | NoTrafficRule | NewErrorGroupRule;

const name = z
  .string()
  .regex(/^[\w.:-]{1,100}$/, 'must be 1–100 letters, digits, _ . : or -')
  .describe('name');
const windowMs = z.number().int().min(1_000).max(86_400_000).default(300_000);
const hysteresis = z.number().min(0).max(1).default(0.1);
const minRequests = (fallback: number) => z.number().int().min(1).default(fallback);
const route = z.string().min(1).max(1_024).optional();

const errorRate = z.strictObject({
  kind: z.literal('errorRate'),
  name,
  windowMs,
  threshold: z.number().min(0).max(1),
  minRequests: minRequests(20),
  hysteresis,
  route,
});
const p95 = z.strictObject({
  kind: z.literal('p95'),
  name,
  windowMs,
  thresholdMs: z.number().positive(),
  minRequests: minRequests(20),
  hysteresis,
  route,
});
const trafficDrop = z.strictObject({
  kind: z.literal('trafficDrop'),
  name,
  windowMs,
  threshold: z.number().min(0).max(1),
  periodMs: z.number().int().positive().default(86_400_000),
  minRequests: minRequests(100),
  hysteresis,
});
const noTraffic = z.strictObject({ kind: z.literal('noTraffic'), name, windowMs });
const newErrorGroup = z.strictObject({ kind: z.literal('newErrorGroup'), name, windowMs });

const ruleSchema = z
  .discriminatedUnion('kind', [errorRate, p95, trafficDrop, noTraffic, newErrorGroup], {
    error: `kind must be one of ${alertKinds.join(', ')}`,
  })
  .check((ctx) => {
    const rule = ctx.value;
    if ('route' in rule && rule.route !== undefined && rule.windowMs > MAX_ROUTE_WINDOW_MS)
      ctx.issues.push({ code: 'custom', input: rule.windowMs, path: ['windowMs'], message: `must be at most ${MAX_ROUTE_WINDOW_MS} ms for a per-route rule` });
    if (rule.kind === 'trafficDrop' && rule.periodMs < rule.windowMs)
      ctx.issues.push({ code: 'custom', input: rule.periodMs, path: ['periodMs'], message: 'must be at least windowMs' });
  });

/** A rule with every default applied. */
export type ResolvedAlertRule = z.output<typeof ruleSchema>;

/**
 * Validates alert rules (throws one TypeError naming every bad field, by
 * rule index) and applies their defaults.
 */
export function resolveAlertRules(rules: readonly AlertRule[]): ResolvedAlertRule[] {
  const parsed = z
    .array(ruleSchema)
    .max(100, 'at most 100 rules')
    .superRefine((list, ctx) => {
      const seen = new Set<string>();
      list.forEach((rule, i) => {
        if (seen.has(rule.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate rule name ${JSON.stringify(rule.name)}` });
        seen.add(rule.name);
      });
    })
    .safeParse(rules);
  if (!parsed.success) {
    const detail = parsed.error.issues
      .map((issue) => `alerts${issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('')}: ${issue.message}`)
      .join('; ');
    throw new TypeError(`pgpulse: invalid alert rules: ${detail}`, { cause: parsed.error });
  }
  return parsed.data;
}

/** The threshold a rule compares with, in the unit of its value (a share, ms, a ratio; null for event rules). */
export function ruleThreshold(rule: ResolvedAlertRule): number | null {
  switch (rule.kind) {
    case 'errorRate':
    case 'trafficDrop':
      return rule.threshold;
    case 'p95':
      return rule.thresholdMs;
    default:
      return null;
  }
}
