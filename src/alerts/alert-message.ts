import { createHmac } from 'node:crypto';
import type { AlertEvent } from './alert-store.js';

/** Version of the webhook body ({@link WebhookBody}); bumped only on incompatible changes. */
export const WEBHOOK_BODY_VERSION = 1;

/** Header names of a webhook delivery. */
export const webhookHeaders = {
  /** The event id: the same for every retry and every process, so a receiver can drop duplicates. */
  delivery: 'x-pgpulse-delivery',
  /** Unix seconds when the request was signed. */
  timestamp: 'x-pgpulse-timestamp',
  /** `sha256=` + hex HMAC-SHA256 of `${timestamp}.${body}` with the webhook's secret (only with a secret). */
  signature: 'x-pgpulse-signature',
} as const;

/** JSON body of a generic webhook (format `'json'`). */
export interface WebhookBody {
  version: typeof WEBHOOK_BODY_VERSION;
  /** `alert.firing` or `alert.resolved`. */
  type: `alert.${AlertEvent['state']}`;
  id: string;
  rule: string;
  kind: AlertEvent['kind'];
  subject: string;
  state: AlertEvent['state'];
  value: number | null;
  threshold: number | null;
  requests: number | null;
  release: string | null;
  evaluator: string;
  /** ISO 8601 time of the transition. */
  at: string;
  detail: Record<string, unknown>;
  /** One line for humans (the Slack text). */
  summary: string;
}

const percent = (v: number) => `${(v * 100).toFixed(v < 0.1 ? 1 : 0)}%`;
const duration = (ms: unknown) => (typeof ms !== 'number' ? '' : ms % 60_000 === 0 ? `${ms / 60_000} min` : `${ms / 1000} s`);

const text = (value: unknown) => (typeof value === 'string' ? value : '');

/** What the value means, in words: "error rate 12% (threshold 5%)". */
function measured(event: AlertEvent): string {
  const { value, threshold } = event;
  switch (event.kind) {
    case 'errorRate':
      return `error rate ${value === null ? 'n/a' : percent(value)} (threshold ${percent(threshold ?? 0)})`;
    case 'p95':
      return `p95 ${value === null ? 'n/a' : `${Math.round(value)} ms`} (threshold ${threshold ?? 0} ms)`;
    case 'trafficDrop':
      return `traffic at ${value === null ? 'n/a' : percent(value)} of the earlier window (threshold ${percent(threshold ?? 0)})`;
    case 'noTraffic':
      return event.state === 'firing' ? 'no requests' : 'requests again';
    case 'newErrorGroup':
      return `new error ${text(event.detail.class)}: ${text(event.detail.message).slice(0, 200)}`;
  }
}

/** One line describing an alert transition. */
export function alertSummary(event: AlertEvent): string {
  const where = event.subject === '' || event.kind === 'newErrorGroup' ? '' : ` on ${event.subject}`;
  const window = duration(event.detail.windowMs);
  const requests = event.requests === null || event.kind === 'newErrorGroup' || event.kind === 'noTraffic' ? '' : `, ${event.requests} requests`;
  const release = event.release ? ` [release ${event.release}]` : '';
  return `${event.state === 'firing' ? 'FIRING' : 'RESOLVED'} ${event.rule}${where}: ${measured(event)}${window ? ` over ${window}` : ''}${requests}${release}`;
}

/** The generic webhook body of an event. */
export function webhookBody(event: AlertEvent): WebhookBody {
  return {
    version: WEBHOOK_BODY_VERSION,
    type: `alert.${event.state}`,
    id: event.id,
    rule: event.rule,
    kind: event.kind,
    subject: event.subject,
    state: event.state,
    value: event.value,
    threshold: event.threshold,
    requests: event.requests,
    release: event.release,
    evaluator: event.evaluator,
    at: event.at.toISOString(),
    detail: event.detail,
    summary: alertSummary(event),
  };
}

/** A Slack-compatible incoming-webhook body (also accepted by Mattermost and Rocket.Chat incoming webhooks). */
export function slackBody(event: AlertEvent): { text: string } {
  return { text: `${event.state === 'firing' ? ':rotating_light:' : ':white_check_mark:'} ${alertSummary(event)}` };
}

/** The signature header value of `body` sent at `timestamp` (unix seconds). */
export function signWebhook(secret: string, timestamp: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}
