import { z } from 'zod';
import type { StoredRequestLog } from '../schema/request-log.js';
import { fromBridgeValue, requestLogColumnNames, requestLogColumns, toBridgeValue, type PgTypeName, type RequestLogColumnName } from '../schema/columns.js';

/**
 * Current version of the NOTIFY message format: it changes with the row
 * tuple (the column list). 2: `trace_id`, `span_id`, `attributes`. 3: `consumer_id`,
 * `consumer_name`, `consumer_group`, `error_fingerprint`, `error`.
 */
export const BRIDGE_MESSAGE_VERSION = 3 as const;

/** Default NOTIFY channel. */
export const DEFAULT_CHANNEL = 'pgpulse_requests';

/** Postgres rejects NOTIFY payloads of 8000 bytes or more; stay safely below. */
export const MAX_PAYLOAD_BYTES = 7_900;

/**
 * Columns of the compact row tuple used inline in NOTIFY messages, after the
 * row's `id`: the column list (`src/store/columns.ts`) in order, with the
 * origin column (`node_id`) moved last. `inserted_at` travels as epoch
 * milliseconds; `node_id` is null when it equals the message origin (the usual
 * case), so a row broadcast with another node id keeps it.
 */
const TUPLE_COLUMNS = [
  ...requestLogColumnNames.filter((name) => !isOrigin(name)),
  ...requestLogColumnNames.filter((name) => isOrigin(name)),
] as readonly RequestLogColumnName[];

/** Position of each column in the row tuple. */
const TUPLE_INDEX = Object.fromEntries(TUPLE_COLUMNS.map((name, i) => [name, i + 1])) as Record<RequestLogColumnName, number>;

/** Field names of the row tuple, in order. */
export const ROW_FIELDS = ['id', ...TUPLE_COLUMNS] as const;

function isOrigin(name: RequestLogColumnName): boolean {
  return 'origin' in requestLogColumns[name];
}

/** Bridge schema of one tuple element: the JSON type of the column (enums as enums), null allowed where the column or the origin rule allows it. */
function tupleElement(name: RequestLogColumnName): z.ZodType {
  const column = requestLogColumns[name];
  const byType = {
    text: column.schema instanceof z.ZodEnum ? column.schema : z.string(),
    smallint: z.number().int(),
    double: z.number(),
    bigint: z.number().int(),
    timestamptz: z.number(),
    jsonb: column.schema,
  } satisfies Record<PgTypeName, z.ZodType>;
  const element = byType[column.type];
  return column.nullable || isOrigin(name) ? element.nullable() : element;
}

const rowTupleSchema = z.tuple([z.number().int().positive(), ...TUPLE_COLUMNS.map(tupleElement)] as unknown as [z.ZodNumber]) as unknown as z.ZodType<RowTuple>;

/** One row as a tuple: `[id, ...column values]`, see {@link ROW_FIELDS}. */
export type RowTuple = [id: number, ...values: unknown[]];

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

/**
 * A pgpulse message of another format version (nodes of another pgpulse
 * version during a rolling deploy): its rows are not decoded. A listener
 * counts it; an older one (`asReference`) has its rows fetched by its
 * transaction id, with every column this version knows, and a newer one's
 * rows come with the periodic catch-up.
 */
export interface OtherVersionMessage {
  v: number;
  otherVersion: true;
  /**
   * For a message of an older version whose base fields (origin, batch, row
   * count, transaction id: the same in every version so far) parse: the same
   * batch as a reference message carrying no ids, which fetches its rows by `tx`.
   */
  asReference?: ReferenceBridgeMessage;
}

const versionSchema = z.object({ v: z.number().int().positive() });
const olderBaseSchema = baseSchema.extend({ v: z.number().int().positive() });

/** Compact tuple form of one stored row written by node `origin`. */
export function toRowTuple(row: StoredRequestLog, origin: string): RowTuple {
  const tuple: RowTuple = [row.id];
  for (const name of TUPLE_COLUMNS) {
    const value = row[name];
    tuple.push(isOrigin(name) && value === origin ? null : toBridgeValue(name, value));
  }
  return tuple;
}

/** Expands an inline tuple of a message from node `origin` back into a stored row. */
export function fromRowTuple(tuple: RowTuple, origin: string): StoredRequestLog {
  // Keys in column-list order, like a row read back from Postgres.
  const row: Record<string, unknown> = { id: tuple[0] };
  for (const name of requestLogColumnNames) {
    const value = tuple[TUPLE_INDEX[name]];
    row[name] = isOrigin(name) && value === null ? origin : fromBridgeValue(name, value);
  }
  return row as StoredRequestLog;
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
 * Parses a NOTIFY payload. A message of another format version (an object
 * with a positive integer `v` other than {@link BRIDGE_MESSAGE_VERSION}) is
 * answered as an {@link OtherVersionMessage}, not thrown. Throws a precise
 * Error (with the zod error as `cause`) for anything else that is not a valid
 * pgpulse message.
 */
export function decodeBridgeMessage(payload: string): BridgeMessage | OtherVersionMessage {
  let json: unknown;
  try {
    json = JSON.parse(payload);
  } catch (error) {
    throw new Error(`pgpulse bridge: payload is not JSON (${payload.length} chars)`, { cause: error });
  }
  const version = versionSchema.safeParse(json);
  if (version.success && version.data.v !== BRIDGE_MESSAGE_VERSION) {
    const other: OtherVersionMessage = { v: version.data.v, otherVersion: true };
    const older = version.data.v < BRIDGE_MESSAGE_VERSION ? olderBaseSchema.safeParse(json) : undefined;
    if (older?.success) other.asReference = { ...older.data, v: BRIDGE_MESSAGE_VERSION, ids: [] };
    return other;
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
