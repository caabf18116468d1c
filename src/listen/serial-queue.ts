/**
 * Runs async tasks one at a time, in the order they were pushed. A failing task
 * is reported to `onError` and does not stop the queue.
 */
export class SerialQueue {
  private tail: Promise<void> = Promise.resolve();
  private waiting = 0;

  constructor(private readonly onError: (error: unknown) => void) {}

  /** Tasks queued or running. */
  get pending(): number {
    return this.waiting;
  }

  push(task: () => Promise<void> | void): void {
    this.waiting++;
    this.tail = this.tail
      .then(task)
      .catch((error: unknown) => this.onError(error))
      .finally(() => this.waiting--);
  }

  /** Resolves once every task pushed so far has finished. */
  idle(): Promise<void> {
    return this.tail;
  }
}
