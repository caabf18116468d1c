import { EventEmitter } from 'node:events';
import { parseRequestLog, type RequestLog } from './schema/request-log.js';

/** Message delivered to every subscriber. */
export interface RequestSentMessage {
  type: 'request_sent';
  /** The request. `id` is set when the row is already committed (events relayed by the NOTIFY bridge). */
  event: RequestLog & { id?: number };
}

export type PulseMessage = RequestSentMessage;

/** Handler given to {@link PubSub.subscribe}. May be sync or async. */
export type PulseHandler = (message: PulseMessage) => void | Promise<void>;

export interface SubscribeOptions {
  /**
   * Messages queued for this subscriber while its previous (async) call is still
   * running. When full, new messages are dropped for this subscriber only and
   * counted. Default 10,000 messages.
   */
  maxQueue?: number;
  /** Name used in `subscriberError` and `drop` events. Default `subscriber-N`. */
  name?: string;
}

export interface IterateOptions extends SubscribeOptions {
  /** Ends the iteration when aborted. */
  signal?: AbortSignal;
}

/** Events a PubSub emits about degraded delivery. */
export interface PubSubEvents {
  /** A subscriber threw or rejected; other subscribers were not affected. */
  subscriberError: [info: { subscriber: string; error: unknown; message: PulseMessage }];
  /** A slow subscriber's queue was full; `count` messages were dropped for it. */
  drop: [info: { subscriber: string; count: number }];
}

export interface PubSubStats {
  /** Messages accepted by `broadcast`. */
  broadcast: number;
  /** Handler calls that completed. */
  delivered: number;
  /** Messages dropped because a subscriber queue was full. */
  dropped: number;
  /** Handler calls that threw or rejected. */
  errors: number;
  /** Current number of subscribers. */
  subscribers: number;
}

const DEFAULT_MAX_QUEUE = 10_000;

class Subscription {
  private queue: PulseMessage[] = [];
  private head = 0;
  private draining = false;
  active = true;

  constructor(
    readonly name: string,
    private readonly handler: PulseHandler,
    private readonly maxQueue: number,
    private readonly pubsub: PubSub,
  ) {}

  push(message: PulseMessage): void {
    if (this.queue.length - this.head >= this.maxQueue) {
      this.pubsub.reportDrop(this.name);
      return;
    }
    this.queue.push(message);
    if (!this.draining) {
      this.draining = true;
      queueMicrotask(() => void this.drain());
    }
  }

  private async drain(): Promise<void> {
    while (this.active && this.head < this.queue.length) {
      const message = this.queue[this.head++]!;
      try {
        const result: unknown = this.handler(message);
        // Any thenable, not only native promises.
        if (typeof (result as PromiseLike<unknown> | undefined)?.then === 'function') await result;
        this.pubsub.stats.delivered++;
      } catch (error) {
        this.pubsub.reportError(this.name, error, message);
      }
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.head);
        this.head = 0;
      }
    }
    this.queue = [];
    this.head = 0;
    this.draining = false;
  }
}

/**
 * In-process, local-only broadcast of captured requests. Every app node
 * broadcasts only the requests it served; remote processes learn of other
 * nodes' rows through the NOTIFY bridge.
 *
 * Delivery is asynchronous: `broadcast` never waits for a subscriber, a
 * throwing subscriber is reported as a `subscriberError` event, and a slow
 * async subscriber has a bounded queue that drops (counted) when full.
 */
export class PubSub extends EventEmitter<PubSubEvents> {
  /** Stable name, as in the Elixir original. */
  readonly name = 'pgpulse_pubsub' as const;
  readonly stats: PubSubStats = { broadcast: 0, delivered: 0, dropped: 0, errors: 0, subscribers: 0 };
  private subscriptions: Subscription[] = [];
  private counter = 0;

  /**
   * Validates `log` and delivers `{ type: "request_sent", event }` to every
   * subscriber. Throws {@link InvalidRequestLogError} for malformed input.
   * Returns the validated log.
   */
  broadcast(log: unknown): RequestLog {
    const event = parseRequestLog(log);
    this.publish(event);
    return event;
  }

  /** Delivers an already validated log (used by capture and the bridge). */
  publish(event: RequestLog & { id?: number }): void {
    this.stats.broadcast++;
    const message: PulseMessage = { type: 'request_sent', event };
    for (const subscription of this.subscriptions) subscription.push(message);
  }

  /** Adds a handler; returns a function that removes it (safe to call twice). */
  subscribe(handler: PulseHandler, options: SubscribeOptions = {}): () => void {
    if (typeof handler !== 'function') throw new TypeError('pubsub.subscribe(handler) needs a function');
    const name = options.name ?? `subscriber-${++this.counter}`;
    const subscription = new Subscription(name, handler, options.maxQueue ?? DEFAULT_MAX_QUEUE, this);
    this.subscriptions = [...this.subscriptions, subscription];
    this.stats.subscribers = this.subscriptions.length;
    return () => {
      if (!subscription.active) return;
      subscription.active = false;
      this.subscriptions = this.subscriptions.filter((s) => s !== subscription);
      this.stats.subscribers = this.subscriptions.length;
    };
  }

  /**
   * Async iterator over messages, ending when `signal` aborts or the consumer
   * breaks out. Buffered messages beyond `maxQueue` are dropped and counted.
   */
  async *iterate(options: IterateOptions = {}): AsyncGenerator<PulseMessage, void, undefined> {
    const { signal } = options;
    if (signal?.aborted) return;
    const maxQueue = options.maxQueue ?? DEFAULT_MAX_QUEUE;
    const name = options.name ?? `iterator-${++this.counter}`;
    let buffer: PulseMessage[] = [];
    let wake: (() => void) | undefined;
    const unsubscribe = this.subscribe(
      (message) => {
        if (buffer.length >= maxQueue) {
          this.reportDrop(name);
          return;
        }
        buffer.push(message);
        wake?.();
      },
      { name, maxQueue: Number.MAX_SAFE_INTEGER },
    );
    const onAbort = () => wake?.();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      while (!signal?.aborted) {
        if (buffer.length === 0) {
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
          continue;
        }
        const batch = buffer;
        buffer = [];
        for (const message of batch) {
          if (signal?.aborted) return;
          yield message;
        }
      }
    } finally {
      signal?.removeEventListener('abort', onAbort);
      unsubscribe();
    }
  }

  [Symbol.asyncIterator](): AsyncGenerator<PulseMessage, void, undefined> {
    return this.iterate();
  }

  /** @internal */
  reportDrop(subscriber: string): void {
    this.stats.dropped++;
    if (this.listenerCount('drop') > 0) this.emit('drop', { subscriber, count: 1 });
  }

  /** @internal */
  reportError(subscriber: string, error: unknown, message: PulseMessage): void {
    this.stats.errors++;
    if (this.listenerCount('subscriberError') > 0) {
      try {
        this.emit('subscriberError', { subscriber, error, message });
      } catch {
        // a throwing error listener must not break delivery either
      }
    }
  }
}
