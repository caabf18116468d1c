/**
 * Loading `@opentelemetry/api`, an optional peer dependency, used by capture
 * (the active span) and by the HTTP server metrics (a meter). Kept out of every
 * public module so that pgpulse's declaration files never import
 * `@opentelemetry/api` (the public types are structural, e.g. `SpanLike`).
 */
import { createRequire } from 'node:module';
import type * as OpenTelemetryApi from '@opentelemetry/api';

/** The parts of `@opentelemetry/api` pgpulse uses. */
export type OpenTelemetryApiPart = Pick<typeof OpenTelemetryApi, 'trace' | 'isSpanContextValid' | 'metrics' | 'ValueType'>;

let loaded: OpenTelemetryApiPart | null | undefined;

/**
 * `@opentelemetry/api` when the app has it installed, loaded on first use with
 * a synchronous require (it is CommonJS); undefined otherwise. Any copy of it
 * reads the same global context manager, tracer and meter providers.
 */
export function openTelemetry(): OpenTelemetryApiPart | undefined {
  if (loaded === undefined) {
    try {
      loaded = createRequire(import.meta.url)('@opentelemetry/api') as OpenTelemetryApiPart;
    } catch {
      loaded = null;
    }
  }
  return loaded ?? undefined;
}
