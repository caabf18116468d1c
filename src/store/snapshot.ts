/**
 * A parsed `pg_snapshot` (`xmin:xmax:xip,…`, 64-bit transaction ids).
 * A transaction is visible in it when it had finished (committed or aborted)
 * when the snapshot was taken.
 */
export interface Snapshot {
  /** The text form, as Postgres prints and accepts it. */
  readonly text: string;
  /** Every transaction id below it had finished. */
  readonly xmin: bigint;
  /** Every transaction id at or above it had not started. */
  readonly xmax: bigint;
  /** Transactions in progress (xmin ≤ id < xmax). */
  readonly xip: ReadonlySet<bigint>;
}

const SNAPSHOT_TEXT = /^(\d+):(\d+):((?:\d+(?:,\d+)*)?)$/;

/** Parses the text form of `pg_current_snapshot()`. Throws for anything else. */
export function parseSnapshot(text: string): Snapshot {
  const match = SNAPSHOT_TEXT.exec(text);
  if (!match) throw new Error(`pgpulse listener: not a pg_snapshot: ${JSON.stringify(text.slice(0, 80))}`);
  const xip = new Set(match[3] ? match[3].split(',').map((id) => BigInt(id)) : []);
  return { text, xmin: BigInt(match[1]!), xmax: BigInt(match[2]!), xip };
}

/** Same rule as Postgres' `pg_visible_in_snapshot(txid, snapshot)`. */
export function isVisibleInSnapshot(txId: bigint, snapshot: Snapshot): boolean {
  if (txId < snapshot.xmin) return true;
  if (txId >= snapshot.xmax) return false;
  return !snapshot.xip.has(txId);
}

/**
 * Whether every transaction visible in `older` is visible in `snapshot` too
 * (`snapshot` was taken at the same time or later). Comparing xmax alone is
 * not enough: two snapshots with the same xmax (no transaction id assigned
 * between them) differ in which transactions were still in progress.
 */
export function coversSnapshot(snapshot: Snapshot, older: Snapshot): boolean {
  if (snapshot.xmax < older.xmax) return false;
  for (const running of snapshot.xip) if (isVisibleInSnapshot(running, older)) return false;
  return true;
}
