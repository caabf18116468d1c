import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AlertEvent } from './alert-store.js';
import { signWebhook, slackBody, webhookBody, webhookHeaders } from './alert-message.js';
import { webhookLabel, type ResolvedWebhook } from './webhook-options.js';

/** The evaluation lease as the notifier takes it around each attempt (see {@link AlertNotifier}). */
export interface NotifierLease {
  hold(holdMs: number): Promise<boolean>;
  settle(): Promise<void>;
}

/** A failed delivery attempt (event `alertNotifyFailed`). */
export interface AlertNotifyFailure {
  error: Error;
  /** The webhook's scheme and host (never its path or query: Slack URLs carry their secret there). */
  target: string;
  eventId: string;
  rule: string;
  attempt: number;
  /** No attempt follows: the event is recorded as not delivered to this webhook (`notify_error`). */
  final: boolean;
}

export interface AlertNotifierStats {
  /** Events every webhook accepted. */
  delivered: number;
  /** Attempts that failed (each counted, retried or not). */
  failures: number;
  /** Events some webhook gave up on. */
  givenUp: number;
  /** Events not queued because the queue was full (they stay in the outbox and are offered again). */
  queueFull: number;
  /** Events queued or being delivered. */
  queued: number;
}

/** What became of an event's deliveries: undefined error when every webhook accepted it. */
export type DeliveryOutcome = { event: AlertEvent; error?: string };

/**
 * Sends alert events to webhooks, one event at a time in order (a resolution
 * never arrives before its firing), to every webhook at once, each with
 * retries and exponential backoff. The queue is bounded (`maxQueue`); a full
 * queue refuses the event (it stays in the outbox, `pgpulse.alert_events`,
 * and is offered again). Never throws: failures are counted and reported
 * through `onFailure`.
 */
export class AlertNotifier {
  readonly stats: AlertNotifierStats = { delivered: 0, failures: 0, givenUp: 0, queueFull: 0, queued: 0 };
  private readonly queue: AlertEvent[] = [];
  private readonly ids = new Set<string>();
  private readonly abort = new AbortController();
  private running: Promise<void> | undefined;

  constructor(
    private readonly webhooks: readonly ResolvedWebhook[],
    private readonly onDone: (outcome: DeliveryOutcome) => Promise<void>,
    private readonly onFailure: (failure: AlertNotifyFailure) => void,
    private readonly maxQueue = 1_000,
    /**
     * The evaluation lease, taken around each attempt: `hold` before it, with
     * how long it may take (its webhook's `timeoutMs` and a second), answers
     * whether this process may send it (it still holds the lease, now kept
     * that long; when not, the event and the rest of the queue are left to the
     * process that holds it); `settle` after it. Default: always sends.
     */
    private readonly lease: NotifierLease = { hold: () => Promise.resolve(true), settle: () => Promise.resolve() },
  ) {}

  /** Whether an event is queued or being delivered. */
  has(id: string): boolean {
    return this.ids.has(id);
  }

  /** Queues an event; false when the queue is full or the notifier closed. */
  offer(event: AlertEvent): boolean {
    if (this.abort.signal.aborted || this.ids.has(event.id)) return false;
    if (this.queue.length >= this.maxQueue) {
      this.stats.queueFull++;
      return false;
    }
    this.queue.push(event);
    this.ids.add(event.id);
    this.stats.queued = this.ids.size;
    this.running ??= this.drain().finally(() => (this.running = undefined));
    return true;
  }

  /** Resolves when the queue is empty. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Stops: the delivery in flight is abandoned (the event stays in the outbox for the next evaluator). Safe twice. */
  async close(): Promise<void> {
    this.abort.abort();
    await this.running;
  }

  private async drain(): Promise<void> {
    for (let event = this.queue.shift(); event; event = this.queue.shift()) {
      const errors = await Promise.all(this.webhooks.map((webhook) => this.deliver(webhook, event)));
      if (this.abort.signal.aborted || errors.includes(LEFT)) break;
      const failed = errors.filter((e): e is string => e !== undefined);
      if (failed.length > 0) this.stats.givenUp++;
      else this.stats.delivered++;
      await this.onDone({ event, error: failed.length > 0 ? failed.join('; ') : undefined }).catch(() => undefined);
      this.ids.delete(event.id);
      this.stats.queued = this.ids.size;
    }
    this.queue.length = 0;
    this.ids.clear();
    this.stats.queued = 0;
  }

  /**
   * Delivers to one webhook with retries; the final error text, undefined when
   * accepted, or {@link LEFT} when this process may no longer send (see `claim`).
   */
  private async deliver(webhook: ResolvedWebhook, event: AlertEvent): Promise<string | undefined> {
    const body = JSON.stringify(webhook.format === 'slack' ? slackBody(event) : webhookBody(event));
    for (let attempt = 1; ; attempt++) {
      if (!(await this.lease.hold(webhook.timeoutMs + CLAIM_MARGIN_MS).catch(() => false))) return LEFT;
      const error = await post(webhook, event.id, body, this.abort.signal);
      await this.lease.settle().catch(() => undefined);
      if (!error || this.abort.signal.aborted) return undefined;
      this.stats.failures++;
      const final = attempt >= webhook.maxAttempts || !error.retry;
      const failure = { error: error.error, target: webhookLabel(webhook), eventId: event.id, rule: event.rule, attempt, final };
      try {
        this.onFailure(failure);
      } catch {
        // a throwing listener never stops deliveries
      }
      if (final) return `${failure.target}: ${error.error.message}`;
      const backoff = Math.min(60_000, webhook.backoffMs * 2 ** (attempt - 1)) * (0.8 + Math.random() * 0.4);
      const waited = await sleep(backoff, true, { signal: this.abort.signal, ref: false }).catch(() => false);
      if (!waited) return undefined;
    }
  }
}

/** What a delivery answers when this process may no longer send (another holds the lease): nothing is recorded. */
const LEFT = '\u0000left to the lease holder';

/** How much longer than a webhook's `timeoutMs` an attempt keeps the lease: the time to send the request and read the answer. */
const CLAIM_MARGIN_MS = 1_000;

/** Statuses worth another attempt. */
const retryable = (status: number) => status >= 500 || status === 408 || status === 429;

/** One POST; undefined when answered 2xx. A fresh connection each time (no agent: nothing stays open after close). */
function post(webhook: ResolvedWebhook, id: string, body: string, signal: AbortSignal): Promise<{ error: Error; retry: boolean } | undefined> {
  const timestamp = Math.floor(Date.now() / 1000);
  const headers: Record<string, string> = {
    ...webhook.headers,
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(body)),
    'user-agent': 'pgpulse-alerts',
    [webhookHeaders.delivery]: id,
    [webhookHeaders.timestamp]: String(timestamp),
  };
  if (webhook.secret !== undefined && webhook.format === 'json') headers[webhookHeaders.signature] = signWebhook(webhook.secret, timestamp, body);
  const send = webhook.url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve) => {
    const req = send(webhook.url, { method: 'POST', headers, agent: false, timeout: webhook.timeoutMs, signal }, (res) => {
      res.resume();
      res.on('error', () => undefined);
      const status = res.statusCode ?? 0;
      if (status >= 200 && status < 300) resolve(undefined);
      else resolve({ error: new Error(`answered ${status}`), retry: retryable(status) });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${webhook.timeoutMs} ms`)));
    req.on('error', (error) => resolve({ error: new Error(`request failed: ${error.message}`, { cause: error }), retry: true }));
    req.end(body);
  });
}
