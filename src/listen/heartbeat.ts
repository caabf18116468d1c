/**
 * The listener's heartbeat: queues a periodic catch-up every `intervalMs`,
 * never two at once, and sooner on request (when the dedupe set grows past
 * its bound). Its timer is unref()'d and stops with `signal`.
 */
export class Heartbeat {
  private timer: NodeJS.Timeout | undefined;
  private queued = false;
  private earlyPending = false;

  /**
   * @param enqueue puts a task on the listener's serial queue
   * @param catchUp the periodic catch-up one beat runs
   */
  constructor(
    private readonly intervalMs: number,
    private readonly signal: AbortSignal,
    private readonly enqueue: (task: () => Promise<void>) => void,
    private readonly catchUp: () => Promise<void>,
  ) {}

  /** Schedules the next beat `delayMs` from now (default one interval). */
  schedule(delayMs: number = this.intervalMs): void {
    if (this.signal.aborted) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.beat(), delayMs);
    this.timer.unref();
  }

  /** Asks for a beat now, once until the watermark next moves (see {@link moved}). */
  early(): void {
    if (this.earlyPending) return;
    this.earlyPending = true;
    this.schedule(0);
  }

  /** The watermark moved: a later {@link early} may beat again. */
  moved(): void {
    this.earlyPending = false;
  }

  stop(): void {
    clearTimeout(this.timer);
  }

  private beat(): void {
    if (this.queued) {
      this.schedule();
      return;
    }
    this.queued = true;
    this.enqueue(async () => {
      try {
        await this.catchUp();
      } finally {
        this.queued = false;
        this.schedule();
      }
    });
  }
}
