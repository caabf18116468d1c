import { z } from 'zod';

/** Where alert transitions are sent (`createPulse({ alertWebhooks: [...] })`). */
export interface AlertWebhook {
  /** http(s) URL the body is POSTed to. */
  url: string;
  /**
   * `'json'`: the documented JSON body (see the README's Alerts section), signed
   * when `secret` is set; `'slack'`: a Slack-compatible incoming-webhook body
   * (`{ text }`). Default `'json'`.
   */
  format?: 'json' | 'slack';
  /** Signs each delivery: `X-Pgpulse-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`. At least 16 characters. Default none (unsigned). */
  secret?: string;
  /** Extra request headers (e.g. an `authorization` the receiver wants). Default none. */
  headers?: Record<string, string>;
  /** Attempts per event before giving up (network errors, 5xx, 408 and 429 are retried; other answers are final). Default 5. */
  maxAttempts?: number;
  /** Wait before the first retry, doubled for each next one (with ±20% jitter), at most 60 s. Default 1,000 ms. */
  backoffMs?: number;
  /** Longest one attempt may take. Default 10,000 ms. */
  timeoutMs?: number;
}

const headerName = /^[!#$%&'*+.^_`|~0-9a-z-]+$/i;

const webhookSchema = z.strictObject({
  url: z
    .string()
    .refine((value) => URL.canParse(value) && /^https?:$/.test(new URL(value).protocol), 'must be an http(s) URL')
    .transform((value) => new URL(value)),
  format: z.enum(['json', 'slack']).default('json'),
  secret: z.string().min(16, 'must be at least 16 characters').optional(),
  headers: z.record(z.string().regex(headerName, 'must be an HTTP header name'), z.string().regex(/^[^\r\n]*$/, 'must be one line')).default({}),
  maxAttempts: z.number().int().min(1).max(100).default(5),
  backoffMs: z.number().int().min(1).default(1_000),
  timeoutMs: z.number().int().min(1).default(10_000),
});

/** A webhook with its defaults applied. */
export type ResolvedWebhook = z.output<typeof webhookSchema>;

/** Validates webhooks (one TypeError naming every bad field). */
export function resolveWebhooks(webhooks: readonly AlertWebhook[]): ResolvedWebhook[] {
  const parsed = z.array(webhookSchema).safeParse(webhooks);
  if (!parsed.success) {
    const detail = parsed.error.issues
      .map((issue) => `alertWebhooks${issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('')}: ${issue.message}`)
      .join('; ');
    throw new TypeError(`pgpulse: invalid alert webhooks: ${detail}`, { cause: parsed.error });
  }
  return parsed.data;
}

/** A webhook's URL without credentials, query or path beyond the host (for events and logs: Slack URLs carry their secret in the path). */
export function webhookLabel(webhook: ResolvedWebhook): string {
  return `${webhook.url.protocol}//${webhook.url.host}`;
}
