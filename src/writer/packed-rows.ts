/**
 * RequestLogs packed column by column for the trip to the writer worker.
 * `v8.serialize` of the row objects writes every property name and value of
 * every row (about 4 µs per row on the event loop, and as much again to
 * rebuild the objects in the worker); packed, numbers and timestamps travel
 * in one `Float64Array`, the text values in one string joined with NUL (no
 * RequestLog text contains NUL: capture replaces it, the schema rejects it),
 * and a text equal to the previous row's in the same column is not repeated
 * (user agent, route, method, node id, browser, … mostly are). The columns
 * come from `src/store/columns.ts`, so a new column travels without change
 * here; columns of other types travel as a plain array.
 */
import type { RequestLog } from '../schema/request-log.js';
import { requestLogColumnNames, requestLogColumns, type RequestLogColumnName } from '../schema/columns.js';

/** A batch of RequestLogs, column by column. Its typed arrays can be transferred. */
export interface PackedRows {
  count: number;
  /** Number and timestamp columns, one after the other (`count` values each): NaN for null, timestamps as epoch ms. */
  numbers: Float64Array<ArrayBuffer>;
  /** What each text cell is, column after column: {@link VALUE}, {@link NULL} or {@link SAME}. */
  textKinds: Uint8Array<ArrayBuffer>;
  /** The text cells of kind {@link VALUE}, in order, joined with NUL. */
  text: string;
  /** How many values `text` holds. */
  texts: number;
  /** Columns of any other type, one array of `count` values each. */
  other: unknown[][];
}

const VALUE = 0;
const NULL = 1;
/** Same as the previous row's value in this column. */
const SAME = 2;

const textColumns: RequestLogColumnName[] = [];
const numberColumns: RequestLogColumnName[] = [];
const timestampColumns = new Set<RequestLogColumnName>();
const otherColumns: RequestLogColumnName[] = [];
for (const name of requestLogColumnNames) {
  const type: string = requestLogColumns[name].type;
  if (type === 'text') textColumns.push(name);
  else if (type === 'smallint' || type === 'double' || type === 'bigint' || type === 'timestamptz') {
    numberColumns.push(name);
    if (type === 'timestamptz') timestampColumns.add(name);
  } else otherColumns.push(name);
}

/**
 * Packs `rows`; undefined when one does not fit the packed form (a text with
 * NUL, a number column holding something else, an invalid date), so the
 * caller sends that batch as objects instead. Never throws.
 */
export function packRows(rows: readonly RequestLog[]): PackedRows | undefined {
  const count = rows.length;
  const numbers = new Float64Array(count * numberColumns.length);
  let n = 0;
  for (const name of numberColumns) {
    const timestamp = timestampColumns.has(name);
    for (let i = 0; i < count; i++) {
      const value = (rows[i] as unknown as Record<string, unknown>)[name];
      if (value === null) numbers[n++] = Number.NaN;
      else if (timestamp) {
        if (!(value instanceof Date)) return undefined;
        const ms = value.getTime();
        if (Number.isNaN(ms)) return undefined;
        numbers[n++] = ms;
      } else if (typeof value === 'number' && !Number.isNaN(value)) numbers[n++] = value;
      else return undefined;
    }
  }
  const textKinds = new Uint8Array(count * textColumns.length);
  const values: string[] = [];
  let t = 0;
  for (const name of textColumns) {
    let previous: string | null = null;
    for (let i = 0; i < count; i++) {
      const value = (rows[i] as unknown as Record<string, unknown>)[name];
      if (value === null) {
        textKinds[t++] = NULL;
        previous = null;
      } else if (typeof value !== 'string') return undefined;
      else if (value === previous) textKinds[t++] = SAME;
      else {
        if (value.includes('\u0000')) return undefined;
        textKinds[t++] = VALUE;
        values.push(value);
        previous = value;
      }
    }
  }
  const other = otherColumns.map((name) => rows.map((row) => (row as unknown as Record<string, unknown>)[name]));
  return { count, numbers, textKinds, text: values.join('\u0000'), texts: values.length, other };
}

/** The RequestLogs of a {@link packRows} batch. Throws when the batch is malformed. */
export function unpackRows(packed: PackedRows): RequestLog[] {
  const { count, numbers, textKinds } = packed;
  const values = packed.texts === 0 ? [] : packed.text.split('\u0000');
  if (values.length !== packed.texts) throw new Error('pgpulse writer worker: malformed packed rows');
  const rows = new Array<Record<string, unknown>>(count);
  for (let i = 0; i < count; i++) rows[i] = {};
  // Properties are set in table order, so every row has the same shape as a captured one.
  let n = 0;
  let t = 0;
  let v = 0;
  let o = 0;
  for (const name of requestLogColumnNames) {
    const type: string = requestLogColumns[name].type;
    if (type === 'text') {
      let previous: string | null = null;
      for (let i = 0; i < count; i++) {
        const kind = textKinds[t++];
        if (kind === NULL) previous = null;
        else if (kind === VALUE) previous = values[v++]!;
        rows[i]![name] = previous;
      }
    } else if (numberColumns.includes(name)) {
      const timestamp = timestampColumns.has(name);
      for (let i = 0; i < count; i++) {
        const value = numbers[n++]!;
        rows[i]![name] = Number.isNaN(value) ? null : timestamp ? new Date(value) : value;
      }
    } else {
      const column = packed.other[o++]!;
      for (let i = 0; i < count; i++) rows[i]![name] = column[i];
    }
  }
  if (v !== values.length || n !== numbers.length || t !== textKinds.length) throw new Error('pgpulse writer worker: malformed packed rows');
  return rows as unknown as RequestLog[];
}
