/** What pgpulse's Prometheus metrics read from each kind of source (a Pulse, a bridge Listener, a dashboard). */
import type { DropReason } from '../writer/writer-events.js';
import type { WriterStats } from '../writer/writer-stats.js';
import type { AttributeDropReason } from '../capture/attributes.js';
import type { ConsumerDropReason } from '../capture/consumer.js';
import type { RedactFailReason } from '../capture/redact.js';

/** What the metrics read from a Pulse: its stats, writer events and (when the bridge is on) NOTIFY queue usage. */
export interface PulseMetricsSource {
  stats(): {
    captured: number;
    captureFailures: number;
    attributesDropped: Record<AttributeDropReason, number>;
    refererHostsRejected: number;
    consumersDropped: Record<ConsumerDropReason, number>;
    errorsDropped: number;
    redactionsFailed: Record<RedactFailReason, number>;
    poolErrors: number;
    maintenanceErrors: number;
    writer: WriterStats | undefined;
  };
  /** Whether the writer keeps up and is not stalled (`pulse.health().writer.ok`); undefined with `store: false`. */
  writerHealthy?(): boolean | undefined;
  /** Calls `flushed` on each committed batch and `drop` on each drop; returns a function that stops. */
  watch(handlers: { flushed: (info: { rows: number; durationMs: number }) => void; drop: (info: { count: number; reason: DropReason }) => void }): () => void;
}

/** What the metrics read from a bridge Listener. */
export interface ListenerMetricsSource {
  readonly stats: { delivered: number; caughtUp: number; caughtUpPeriodic: number; reconnects: number; disconnects: number; malformed: number };
  /** Seconds between the end of the last delivered request and its delivery. */
  lagSeconds(): number | undefined;
}

/** What the metrics read from a dashboard. */
export interface DashboardMetricsSource {
  readonly stats: { clients: number; queryErrors: number; unauthorized: number };
  on(event: 'query', listener: (info: { what: string; durationMs: number }) => void): unknown;
  off(event: 'query', listener: (...args: never[]) => void): unknown;
}
