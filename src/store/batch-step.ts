import type { Kysely, Transaction } from 'kysely';
import type { PulseDatabase } from '../schema/database.js';
import type { RequestLog } from '../schema/request-log.js';

/** Ids and transaction id of a batch the insert step wrote. */
export interface InsertedBatch {
  /** New row ids, in row order. */
  ids: number[];
  /** Inserting transaction id (xid8 as decimal text). */
  txId: string;
}

/** What the steps of one batch write share. */
export interface BatchContext {
  readonly rows: readonly RequestLog[];
  /** Which of the writer's concurrent write slots runs this batch (0 … `maxWritesInFlight` - 1). */
  slot: number;
  /** Set by the insert step when any step `needsInserted`. */
  inserted?: InsertedBatch;
}

/** When a step runs: inside the insert's transaction, or once it committed. */
export const batchStepPhases = ['transaction', 'after_commit'] as const;
export type BatchStepPhase = (typeof batchStepPhases)[number];

/**
 * One step of writing a batch. The writer runs the insert, then every
 * `transaction` step in order in the same transaction, commits, then every
 * `after_commit` step in order. A `transaction` step that throws rolls the
 * batch back (and it is retried); an `after_commit` step must not throw, and
 * if it does the rows stay committed (it is reported, never retried).
 */
export type BatchStep = TransactionStep | AfterCommitStep;

interface StepBase {
  readonly name: string;
  /** The step needs the inserted ids and transaction id (the insert then returns them). */
  readonly needsInserted?: boolean;
}

/** Runs inside the insert's transaction. */
export interface TransactionStep extends StepBase {
  readonly phase: 'transaction';
  run(trx: Transaction<PulseDatabase>, context: BatchContext): Promise<void>;
}

/** Runs once the batch committed, on the writer's pool (not in a transaction). */
export interface AfterCommitStep extends StepBase {
  readonly phase: 'after_commit';
  run(db: Kysely<PulseDatabase>, context: BatchContext): Promise<void>;
}
