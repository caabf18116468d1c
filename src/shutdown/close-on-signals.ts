import { z } from 'zod';
import { parseOption } from '../shared/option-schema.js';
import { drainServers, type DrainableServer } from './drain-servers.js';

/** Options of `pulse.closeOnSignals()`. */
export interface CloseOnSignalsOptions {
  /** Signals that close the pulse. Default `['SIGTERM', 'SIGINT']`. */
  signals?: readonly NodeJS.Signals[];
  /**
   * The app's HTTP servers, closed before the pulse flushes (new connections
   * refused, keep-alive connections closed once their response is sent), so
   * every request they answer is stored. Default none: close them yourself.
   */
  servers?: readonly DrainableServer[];
  /**
   * Longest the servers get to finish the requests in flight; connections
   * still open then are closed by force. Counts within the pulse's
   * `closeTimeoutMs`. Default 2,000 ms.
   */
  drainTimeoutMs?: number;
}

/** {@link CloseOnSignalsOptions.drainTimeoutMs} with its default. */
const drainTimeoutSchema = z.number({ error: 'must be a number of ms ≥ 0' }).nonnegative().default(2_000);

/** What closeOnSignals needs of the pulse. */
export interface ClosablePulse {
  /** Closes the pulse, giving up on unwritten rows once `timeoutMs` have passed (counted as dropped). */
  closeWithin(timeoutMs: number): Promise<void>;
  /** The pulse's `closeTimeoutMs`: the whole shutdown's budget from the signal. */
  closeTimeoutMs: number;
}

/**
 * On the first of `signals`: closes the servers, then the pulse, all within
 * the pulse's `closeTimeoutMs` from the signal; then, when no other listener
 * handles the signal, raises it again so the process exits as it would have.
 * Returns a function that removes the handlers.
 */
export function closeOnSignals(pulse: ClosablePulse, options: CloseOnSignalsOptions = {}): () => void {
  const signals = options.signals ?? ['SIGTERM', 'SIGINT'];
  const servers = options.servers ?? [];
  const drainTimeoutMs = parseOption('pgpulse', 'closeOnSignals drainTimeoutMs', drainTimeoutSchema, options.drainTimeoutMs);
  let closing: Promise<void> | undefined;
  const close = () => {
    const deadline = Date.now() + pulse.closeTimeoutMs;
    closing ??= drainServers(servers, Math.min(drainTimeoutMs, pulse.closeTimeoutMs)).then(() => pulse.closeWithin(deadline - Date.now()));
    return closing;
  };
  const handlers = signals.map((signal) => {
    const handler = () => {
      void close().finally(() => {
        if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
      });
    };
    process.once(signal, handler);
    return [signal, handler] as const;
  });
  return () => {
    for (const [signal, handler] of handlers) process.off(signal, handler);
  };
}
