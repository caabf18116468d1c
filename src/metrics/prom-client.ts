/**
 * Loading prom-client, an optional peer dependency (with its tdigest/bintrees
 * and OpenTelemetry dependencies it would double pgpulse's install). Kept out
 * of every public module so that pgpulse's declaration files never import
 * prom-client (the public types use {@link MetricsRegistry}).
 */
import { createRequire } from 'node:module';
import type * as PromClient from 'prom-client';
import type { MetricsRegistry } from './metrics-registry.js';

let loaded: typeof PromClient | null | undefined;

/** prom-client when the app has it installed, else undefined; loaded on first use with a synchronous require (it is CommonJS). */
export function loadPromClient(): typeof PromClient | undefined {
  if (loaded === undefined) {
    try {
      loaded = createRequire(import.meta.url)('prom-client') as typeof PromClient;
    } catch {
      loaded = null;
    }
  }
  return loaded ?? undefined;
}

/** The message of every error about prom-client missing. */
export const PROM_CLIENT_MISSING = 'pgpulse metrics need prom-client, an optional peer dependency: npm i prom-client';

/** prom-client, or a clear error saying how to get it. */
export function promClient(): typeof PromClient {
  const client = loadPromClient();
  if (!client) throw new Error(PROM_CLIENT_MISSING);
  return client;
}

/** A registry pgpulse was given, as prom-client's own type (every `MetricsRegistry` pgpulse accepts is one). */
export function asPromRegistry(registry: MetricsRegistry): PromClient.Registry {
  return registry as unknown as PromClient.Registry;
}
