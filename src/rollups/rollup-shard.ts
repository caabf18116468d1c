/**
 * Rollup shards: every write transaction upserts its own copy of the hot
 * minute/hour rollup rows (see migrations/0007_rollup_shards.sql), so writers
 * on several nodes, and one node's concurrent writes, never wait on each
 * other's row locks. Readers add a bucket's shards up.
 */

/** Shards per rollup key; `pgpulse.claim_rollup_shard` hands them out. */
export const ROLLUP_SHARDS = 32;

/**
 * The shard a writer asks for first: a hash of its node id spreads nodes
 * apart, and `slot` (which of the node's concurrent writes this is) keeps one
 * node's writes apart. Stable per (node, slot), so a bucket ends up with about
 * as many rows as there are concurrent writes, not one per batch.
 */
export function preferredShard(nodeId: string, slot: number): number {
  // FNV-1a, 32 bit.
  let hash = 0x811c9dc5;
  for (let i = 0; i < nodeId.length; i++) {
    hash ^= nodeId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return ((hash >>> 0) + slot) % ROLLUP_SHARDS;
}
