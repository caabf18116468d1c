import { z } from 'zod';
import { DEFAULT_CHANNEL } from '../bridge/message.js';
import type { PulseLogger } from '../events/logger.js';
import { PubSub } from '../pubsub.js';

/** How a listener learns of committed rows. */
export const listenTransports = ['notify', 'wal'] as const;
export type ListenTransportName = (typeof listenTransports)[number];

export interface ListenerOptions {
  /**
   * How committed rows reach the listener. `notify`: the writers' NOTIFY
   * bridge (LISTEN through pg-listen). `wal`: logical replication of
   * `pgpulse.request_logs` (pgoutput over a temporary slot): writers need no
   * NOTIFY, and the server needs `wal_level = logical` and a role with
   * REPLICATION (see the README). Default `notify`.
   */
  transport?: ListenTransportName;
  /** Publication the `wal` transport streams (migration 0010 creates it). Default `pgpulse_request_logs`. */
  publication?: string;
  /**
   * Postgres URL of the dedicated LISTEN connection. It must reach Postgres
   * directly or through a session-mode pooler, never a transaction-mode pooler
   * (PgBouncer `pool_mode=transaction` loses LISTEN). Default `connectionString`.
   */
  listenConnectionString?: string;
  /**
   * Postgres URL for fetching rows that were not inline in a message and for
   * catch-up queries (a small pool; a transaction pooler is fine).
   * Default `listenConnectionString`. At least one of the two is required.
   */
  connectionString?: string;
  /** NOTIFY channel the writers use. Default `pgpulse_requests`. */
  channel?: string;
  /** Delivered rows are published here (`pubsub.publish(row)`, with numeric `id`). Default a new PubSub. */
  pubsub?: PubSub;
  /** Messages whose origin is this node id (and caught-up rows with this `node_id`) are dropped. Default none dropped. */
  nodeId?: string;
  /**
   * Backfill: also deliver rows inserted at or after this time that were
   * already committed at start. Default none (start from "now").
   */
  since?: Date;
  /**
   * Interval of the heartbeat, in milliseconds. Each heartbeat runs a catch-up
   * (rows committed without a notification reach subscribers within about
   * this long, see the README) and pg-listen checks the LISTEN connection at
   * the same interval. Default 1,000 ms (so the bound is about 2 s).
   */
  heartbeatIntervalMs?: number;
  /**
   * A query on the LISTEN connection (its periodic check, a LISTEN) not
   * answered within this many milliseconds counts as a lost connection, which
   * is then replaced. Default 10,000 ms.
   */
  heartbeatTimeoutMs?: number;
  /**
   * Delay between reconnect attempts at first, in milliseconds; doubles per
   * failed attempt (with ±25% jitter). The first attempt after a dropped
   * LISTEN connection is made at once (pg-listen). Default 100 ms.
   */
  minReconnectDelayMs?: number;
  /** Longest delay between reconnect attempts, in milliseconds. Reconnecting never gives up. Default 5,000 ms. */
  maxReconnectDelayMs?: number;
  /** Timeout of one connection attempt, in milliseconds. Default 10,000 ms. */
  connectTimeoutMs?: number;
  /**
   * Dedupe window: when more row ids than this are tracked (rows delivered
   * since the last watermark advance), a heartbeat runs at once to advance the
   * watermark and prune them. With `transport: 'wal'`, also the most rows of
   * one transaction held from the stream until its commit: the rows of a
   * larger one (a bulk import, maintenance moving rows out of the default
   * partition) come by the periodic catch-up instead. Default 50,000 rows.
   */
  maxTrackedRows?: number;
  /** Rows read per catch-up or backfill query. Default 5,000 rows. */
  catchUpPageSize?: number;
  /**
   * Client-side timeout of one fetch, catch-up or backfill query, in
   * milliseconds; a query that times out is retried. Default 60,000 ms.
   */
  queryTimeoutMs?: number;
  /** Connections of the query pool. Default 2. */
  poolSize?: number;
  /**
   * `application_name` of the LISTEN connection (shown in `pg_stat_activity`).
   * Default `pgpulse-listen`.
   */
  applicationName?: string;
  /**
   * pino-compatible logger (`{ warn, error }`, `info` optional): `listenerError`,
   * `disconnected` and `malformed` are logged as warnings, `reconnected` and
   * `caughtUp` as info. Default: nothing is logged.
   */
  logger?: PulseLogger;
}

const positiveMs = z.number().positive();

export const listenerOptionsSchema = z
  .object({
    transport: z.enum(listenTransports).default('notify'),
    publication: z
      .string()
      .regex(/^[a-z_][a-z0-9_]{0,62}$/, { error: 'must be a lower-case SQL identifier' })
      .default('pgpulse_request_logs'),
    listenConnectionString: z.string().min(1).optional(),
    connectionString: z.string().min(1).optional(),
    channel: z.string().min(1).max(63).default(DEFAULT_CHANNEL),
    pubsub: z.instanceof(PubSub).optional(),
    nodeId: z.string().min(1).optional(),
    since: z.date().optional(),
    heartbeatIntervalMs: positiveMs.default(1_000),
    heartbeatTimeoutMs: positiveMs.default(10_000),
    minReconnectDelayMs: positiveMs.default(100),
    maxReconnectDelayMs: positiveMs.default(5_000),
    connectTimeoutMs: positiveMs.default(10_000),
    maxTrackedRows: z.number().int().positive().default(50_000),
    catchUpPageSize: z.number().int().positive().max(100_000).default(5_000),
    queryTimeoutMs: positiveMs.default(60_000),
    poolSize: z.number().int().positive().default(2),
    applicationName: z.string().max(63).default('pgpulse-listen'),
    logger: z
      .custom<PulseLogger>(
        (v) => typeof v === 'object' && v !== null && typeof (v as PulseLogger).warn === 'function' && typeof (v as PulseLogger).error === 'function',
        {
          error: 'must be a logger with warn and error methods',
        },
      )
      .optional(),
  })
  .refine((o) => o.listenConnectionString ?? o.connectionString, {
    error: 'pass listenConnectionString or connectionString (at least one)',
  });

/** Options with defaults applied and both URLs resolved. */
export type ResolvedListenerOptions = z.output<typeof listenerOptionsSchema> & { listenConnectionString: string; connectionString: string };

/** Validates options; throws an Error naming every bad field. */
export function resolveListenerOptions(options: ListenerOptions): ResolvedListenerOptions {
  const result = listenerOptionsSchema.safeParse(options);
  if (!result.success) {
    const issues = result.error.issues.map((i) => `${i.path.join('.') || '(options)'}: ${i.message}`).join('; ');
    throw new Error(`pgpulse listener: invalid options: ${issues}`, { cause: result.error });
  }
  const o = result.data;
  const listenConnectionString = (o.listenConnectionString ?? o.connectionString)!;
  return { ...o, listenConnectionString, connectionString: o.connectionString ?? listenConnectionString };
}
