import { isVisibleInSnapshot, type Snapshot } from '../store/snapshot.js';

/**
 * Row ids delivered from transactions that the listener's watermark snapshot
 * does not cover yet. Rows of transactions visible in the watermark are never
 * delivered again (they are filtered before this set is asked), so each
 * watermark advance prunes them: the set only holds what was delivered since
 * roughly the previous heartbeat.
 */
export class DeliveredRows {
  private readonly byTx = new Map<bigint, Set<number>>();
  private count = 0;

  /** Number of row ids held. */
  get size(): number {
    return this.count;
  }

  has(txId: bigint, id: number): boolean {
    return this.byTx.get(txId)?.has(id) ?? false;
  }

  add(txId: bigint, id: number): void {
    let ids = this.byTx.get(txId);
    if (!ids) {
      ids = new Set();
      this.byTx.set(txId, ids);
    }
    if (!ids.has(id)) {
      ids.add(id);
      this.count++;
    }
  }

  /** Forgets every transaction visible in `watermark`. */
  prune(watermark: Snapshot): void {
    for (const [txId, ids] of this.byTx) {
      if (isVisibleInSnapshot(txId, watermark)) {
        this.count -= ids.size;
        this.byTx.delete(txId);
      }
    }
  }
}
