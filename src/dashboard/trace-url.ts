import { z } from 'zod';
import { parseOption } from '../shared/option-schema.js';

/** The placeholders a trace URL template may hold; each is replaced by the row's id, URL-encoded. */
export const traceUrlPlaceholders = ['{trace_id}', '{span_id}'] as const;

/**
 * A trace URL template: an absolute http(s) URL holding `{trace_id}` (and
 * optionally `{span_id}`), e.g. `https://tempo.example/explore?traceId={trace_id}`.
 * Checked with the placeholders filled in, so the links the page makes are
 * valid URLs of the same scheme.
 */
export const traceUrlSchema = z
  .string()
  .trim()
  .max(2048)
  .refine((template) => template.includes('{trace_id}'), { error: 'must contain {trace_id}' })
  .refine(
    (template) => {
      try {
        const url = new URL(expandTraceUrl(template, '0af7651916cd43dd8448eb211c80319c', 'b7ad6b7169203331'));
        return url.protocol === 'http:' || url.protocol === 'https:';
      } catch {
        return false;
      }
    },
    { error: 'must be an absolute http:// or https:// URL' },
  );

/** The link of one row: the template with `{trace_id}` and `{span_id}` replaced by the URL-encoded ids. */
export function expandTraceUrl(template: string, traceId: string, spanId: string | null): string {
  return template.replaceAll('{trace_id}', encodeURIComponent(traceId)).replaceAll('{span_id}', encodeURIComponent(spanId ?? ''));
}

/** The validated template, or a TypeError naming the option and what is wrong. */
export function parseTraceUrl(template: unknown, option = 'traceUrl'): string {
  return parseOption('pgpulse dashboard', option, traceUrlSchema, template, TypeError);
}
