import { errorBatch } from '../rollups/error-rollup.js';
import { preferredShard } from '../rollups/rollup-shard.js';
import { writeErrors, type NewErrorGroup } from '../store/write-errors.js';
import type { AfterCommitStep, BatchContext, TransactionStep } from '../store/batch-step.js';

export type { NewErrorGroup } from '../store/write-errors.js';

/**
 * The batch steps of grouped errors: in the insert's transaction, the batch's
 * errors are added to `pgpulse.error_groups` and `pgpulse.error_rollups`; once
 * it committed, each group the transaction created is reported (`onNew`), so
 * a group rolled back and retried is reported once, when it is durable.
 */
export function createErrorSteps(nodeId: string, onNew: (group: NewErrorGroup) => void): [TransactionStep, AfterCommitStep] {
  const created = new WeakMap<BatchContext, NewErrorGroup[]>();
  return [
    {
      name: 'errors',
      phase: 'transaction',
      run: async (trx, context) => {
        const batch = errorBatch(context.rows);
        if (batch.groups.length === 0) return;
        created.set(context, await writeErrors(trx, batch, preferredShard(nodeId, context.slot)));
      },
    },
    {
      name: 'errorGroupEvents',
      phase: 'after_commit',
      run: (_db, context) => {
        for (const group of created.get(context) ?? []) onNew(group);
        return Promise.resolve();
      },
    },
  ];
}
