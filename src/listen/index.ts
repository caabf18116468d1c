export { createListener, Listener } from './listener.js';
export { listenerPhases, type CatchUpReason, type ListenerEvents, type ListenerPhase, type ListenerStats } from './listener-events.js';
export type { ListenerOptions } from './listener-options.js';
export type { ListenTransport, ListenTransportFactory, TransportHandlers } from './transport.js';
export { PubSub, type PulseMessage, type RequestSentMessage } from '../pubsub.js';
export type { StoredRequestLog } from '../schema/request-log.js';
