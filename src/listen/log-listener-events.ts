import type { EventEmitter } from 'node:events';
import type { ListenerEvents } from './listener-events.js';
import { log, type PulseLogger } from '../events/logger.js';

/**
 * Logs a bridge listener's events: `listenerError`, `disconnected` and
 * `malformed` as warnings (it retries and reconnects by itself, nothing is
 * lost), `reconnected` and `caughtUp` as info. Returns a function that stops logging.
 */
export function logListenerEvents(listener: Pick<EventEmitter<ListenerEvents>, 'on' | 'off'>, logger: PulseLogger): () => void {
  const handlers: { [K in keyof ListenerEvents]?: (...args: ListenerEvents[K]) => void } = {
    listenerError: ({ error, phase, retryInMs }) =>
      log(
        logger,
        'warn',
        { err: error, event: 'listenerError', phase, retryInMs },
        `pgpulse listener: ${phase} failed${retryInMs === undefined ? '' : `; retrying in ${retryInMs} ms`}`,
      ),
    disconnected: ({ error }) => log(logger, 'warn', { err: error, event: 'disconnected' }, 'pgpulse listener: LISTEN connection lost; reconnecting'),
    malformed: ({ payload, error }) =>
      log(logger, 'warn', { err: error, event: 'malformed', payload }, 'pgpulse listener: ignored a payload that is not a pgpulse message'),
    reconnected: ({ attempts, downMs }) => log(logger, 'info', { event: 'reconnected', attempts, downMs }, `pgpulse listener: LISTEN again after ${downMs} ms`),
    caughtUp: ({ rows, durationMs, reason }) =>
      log(logger, 'info', { event: 'caughtUp', rows, durationMs, reason }, `pgpulse listener: caught up ${rows} rows without their notification (${reason})`),
  };
  const entries = Object.entries(handlers) as [keyof ListenerEvents, (...args: never[]) => void][];
  for (const [name, handler] of entries) listener.on(name, handler as never);
  return () => {
    for (const [name, handler] of entries) listener.off(name, handler as never);
  };
}
