import { z } from 'zod';
import { deviceTypes, type StoredRequestLog } from '../request-log.js';

/** Current version of the NOTIFY message format. */
export const BRIDGE_MESSAGE_VERSION = 1 as const;

/** Default NOTIFY channel. */
export const DEFAULT_CHANNEL = 'pgpulse_requests';

/** Postgres rejects NOTIFY payloads of 8000 bytes or more; stay safely below. */
export const MAX_PAYLOAD_BYTES = 7_900;

/**
 * Compact row tuple used inline in NOTIFY messages, in this column order.
 * `inserted_at` travels as epoch milliseconds; `node_id` is null when it equals
 * the message origin (the usual case), so a row broadcast with another node id
 * keeps it.
 */
export const ROW_FIELDS = [
  'id',
  'request_id',
  'method',
  'path',
  'route',
  'status_code',
  'duration_ms',
  'response_bytes',
  'user_agent',
  'referer',
  'device_type',
  'visitor_id',
  'session_id',
  'ip',
  'inserted_at',
  'node_id',
] as const;

const nullableString = z.string().nullable();
const rowTupleSchema = z.tuple([
  z.number().int().positive(),
  z.string(),
  z.string(),
  z.string(),
  nullableString,
  z.number().int(),
  z.number(),
  z.number().int().nullable(),
  nullableString,
  nullableString,
  z.enum(deviceTypes),
  nullableString,
  nullableString,
  nullableString,
  z.number(),
  nullableString,
]);

const baseSchema = z.object({
  v: z.literal(BRIDGE_MESSAGE_VERSION),
  /** Origin node id. */
  o: z.string().min(1),
  /** Unique batch id (keeps identical payloads from being collapsed). */
  b: z.string().min(1),
  /** Number of rows in the batch. */
  n: z.number().int().nonnegative(),
  /** Inserting transaction id (xid8 as decimal text). */
  tx: z.string().regex(/^\d+$/),
});

const inlineSchema = baseSchema.extend({ r: z.array(rowTupleSchema) });
const referenceSchema = baseSchema.extend({
  /** Inclusive id ranges `[first, last]` of the batch's rows. */
  ids: z.array(z.tuple([z.number().int().positive(), z.number().int().positive()])),
});

export const bridgeMessageSchema = z.union([inlineSchema, referenceSchema]);

export type InlineBridgeMessage = z.infer<typeof inlineSchema>;
export type ReferenceBridgeMessage = z.infer<typeof referenceSchema>;
export type BridgeMessage = z.infer<typeof bridgeMessageSchema>;

/** Compact tuple form of one stored row written by node `origin`. */
export function toRowTuple(row: StoredRequestLog, origin: string): z.infer<typeof rowTupleSchema> {
  return [
    row.id,
    row.request_id,
    row.method,
    row.path,
    row.route,
    row.status_code,
    row.duration_ms,
    row.response_bytes,
    row.user_agent,
    row.referer,
    row.device_type,
    row.visitor_id,
    row.session_id,
    row.ip,
    row.inserted_at.getTime(),
    row.node_id === origin ? null : row.node_id,
  ];
}

/** Expands an inline tuple of a message from node `origin` back into a stored row. */
export function fromRowTuple(tuple: z.infer<typeof rowTupleSchema>, origin: string): StoredRequestLog {
  const [id, request_id, method, path, route, status_code, duration_ms, response_bytes, user_agent, referer, device_type, visitor_id, session_id, ip, insertedAtMs, nodeId] =
    tuple;
  return {
    id,
    request_id,
    method,
    path,
    route,
    status_code,
    duration_ms,
    response_bytes,
    user_agent,
    referer,
    device_type,
    visitor_id,
    session_id,
    node_id: nodeId ?? origin,
    ip,
    inserted_at: new Date(insertedAtMs),
  };
}

/** Collapses sorted ids into inclusive ranges. */
export function toIdRanges(ids: readonly number[]): [number, number][] {
  const sorted = [...ids].sort((a, b) => a - b);
  const ranges: [number, number][] = [];
  for (const id of sorted) {
    const last = ranges[ranges.length - 1];
    if (last && id === last[1] + 1) last[1] = id;
    else ranges.push([id, id]);
  }
  return ranges;
}

/**
 * Encodes one committed batch as a NOTIFY payload: rows inline when the message
 * fits under {@link MAX_PAYLOAD_BYTES}, otherwise id ranges; when even those do
 * not fit, only the transaction id (listeners then fetch by `tx_id`).
 */
export function encodeBridgeMessage(input: { nodeId: string; batchId: string; txId: string; rows: readonly StoredRequestLog[] }): string {
  const base = { v: BRIDGE_MESSAGE_VERSION, o: input.nodeId, b: input.batchId, n: input.rows.length, tx: input.txId };
  const inline = inlineMessage(base, input.rows, input.nodeId);
  if (inline !== undefined) return inline;
  const byIds = JSON.stringify({ ...base, ids: toIdRanges(input.rows.map((r) => r.id)) });
  if (Buffer.byteLength(byIds) <= MAX_PAYLOAD_BYTES) return byIds;
  return JSON.stringify({ ...base, ids: [] });
}

/**
 * The message with rows inline, or undefined as soon as it would exceed the
 * payload limit (large batches are not serialised whole just to be measured).
 */
function inlineMessage(base: object, rows: readonly StoredRequestLog[], origin: string): string | undefined {
  const head = JSON.stringify(base);
  let bytes = Buffer.byteLength(head) + 8;
  const tuples: string[] = [];
  for (const row of rows) {
    const tuple = JSON.stringify(toRowTuple(row, origin));
    bytes += Buffer.byteLength(tuple) + 1;
    if (bytes > MAX_PAYLOAD_BYTES) return undefined;
    tuples.push(tuple);
  }
  return `${head.slice(0, -1)},"r":[${tuples.join(',')}]}`;
}

/**
 * Parses a NOTIFY payload. Throws a precise Error (with the zod error as
 * `cause`) for anything that is not a valid pgpulse message.
 */
export function decodeBridgeMessage(payload: string): BridgeMessage {
  let json: unknown;
  try {
    json = JSON.parse(payload);
  } catch (error) {
    throw new Error(`pgpulse bridge: payload is not JSON (${payload.length} chars)`, { cause: error });
  }
  const result = bridgeMessageSchema.safeParse(json);
  if (!result.success) {
    const first = result.error.issues[0];
    throw new Error(`pgpulse bridge: invalid message${first ? ` at ${first.path.join('.') || '(root)'}: ${first.message}` : ''}`, {
      cause: result.error,
    });
  }
  return result.data;
}
