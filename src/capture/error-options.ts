import { z } from 'zod';

/** Masks what error messages often carry and should not be stored: e-mail addresses, bearer tokens, `password=…`-style values. */
export function redactSecrets(message: string): string {
  return message
    .replace(/[\w.+-]+@[\w-]+(?:\.[\w-]+)+/g, '[email]')
    .replace(/\b(bearer|basic)\s+[\w.~+/=-]+/gi, '$1 [redacted]')
    .replace(/\b(password|passwd|pwd|secret|token|api[_-]?key|authorization)(\s*[=:]\s*)("[^"]*"|'[^']*'|\S+)/gi, '$1$2[redacted]');
}

/** Capture options of errors (see `captureError`, the framework error hooks and `wrap`). */
export interface ErrorCaptureOptions {
  /**
   * Store the exception behind each 5xx answer (Express `errorMiddleware()`,
   * Fastify `onError`, Hono `onError`, a throwing `wrap` handler) and those
   * the app reports with `pulse.captureError(err, req)`: its class, bounded
   * message and top stack frames in the request's `error` column, grouped by
   * fingerprint in `pgpulse.errors`. Request and response bodies are never
   * kept. Default true.
   */
  captureErrors?: boolean;
  /**
   * Rewrites an error's message before it is stored (then cut to 1,024
   * characters), e.g. to remove personal data: `(message, error) => string`.
   * Called in the capture batch; a throwing function stores the request
   * without its error (counted in `stats.errorsDropped`). Default
   * {@link redactSecrets}: e-mail addresses, bearer tokens and
   * `password=`/`token=`/`api_key=`-style values are masked.
   */
  redactErrorMessage?: (message: string, error: unknown) => string;
}

export const errorOptionsShape = {
  captureErrors: z.boolean().default(true),
  redactErrorMessage: z
    .custom<(message: string, error: unknown) => string>((value) => typeof value === 'function', 'must be a function (message, error) => string')
    .default(() => redactSecrets),
};
