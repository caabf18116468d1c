import { Socket } from 'node:net';
import pgListen, { type Subscriber } from 'pg-listen';
import type { ListenTransport, TransportHandlers } from './transport.js';

/** Options of the LISTEN transport. */
export interface PgListenTransportOptions {
  /** Postgres URL of the dedicated LISTEN connection (never a transaction-mode pooler). */
  connectionString: string;
  /** `application_name` of the connection. */
  applicationName: string;
  /** Timeout of one connection attempt, in milliseconds. */
  connectTimeoutMs: number;
  /** Interval of pg-listen's connection check (`paranoidChecking`), in milliseconds. */
  checkIntervalMs: number;
  /** A check (or any query on the connection) not answered within this many milliseconds counts as a lost connection. */
  checkTimeoutMs: number;
  /** Delay before reconnect attempt `attempt` (1-based), in milliseconds. */
  retryDelayMs: (attempt: number) => number;
  /** Channels to LISTEN on. */
  channels: readonly string[];
}

/**
 * LISTEN on a `pg-listen` Subscriber: it holds the connection, checks it
 * periodically (`paranoidChecking`) and reconnects and re-LISTENs after a
 * loss. pgpulse handles pg-listen's known weaknesses around it, without
 * patching it:
 * - its reconnect loop never stops by itself after `close()`, and
 *   `retryTimeout` (3 s by default) makes it give up for good after a longer
 *   outage: here it retries forever, and once closed every attempt fails at
 *   once (the socket factory refuses) and the retry delay throws, which ends
 *   the loop;
 * - when re-LISTEN fails after a reconnect it only emits `error` and stays
 *   deaf: pgpulse then replaces the whole Subscriber (its own retry loop);
 * - its connection check has no timeout, and `end()` on a silently dropped
 *   connection waits forever: pgpulse sets `query_timeout` on the client and
 *   destroys the sockets of the lost connection itself (it creates them, via
 *   pg's `stream` factory), so nothing of a dead connection is left behind;
 * - it does not say why it reconnects: the socket events tell pgpulse
 *   whether the server closed the connection or the check timed out.
 */
export class PgListenTransport implements ListenTransport {
  private subscriber: Subscriber | undefined;
  private readonly sockets = new Set<Socket>();
  private closed = false;
  private closing: Promise<void> | undefined;
  /** Why the current connection was lost, when its socket told us. */
  private socketLoss: Error | undefined;
  private downSince = 0;
  private attempts = 0;
  private replacing: Promise<void> | undefined;

  constructor(
    private readonly options: PgListenTransportOptions,
    private readonly handlers: TransportHandlers,
  ) {}

  async connect(): Promise<void> {
    if (this.closed) throw new Error('pgpulse listener: transport closed');
    this.subscriber = await this.open();
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      const subscriber = this.subscriber;
      this.subscriber = undefined;
      await this.retire(subscriber);
      await this.replacing;
    })();
    return this.closing;
  }

  /** A new Subscriber, connected and LISTENing on every channel; closed again when that fails. */
  private async open(): Promise<Subscriber> {
    const subscriber = createSubscriber(
      {
        connectionString: this.options.connectionString,
        application_name: this.options.applicationName,
        connectionTimeoutMillis: this.options.connectTimeoutMs,
        query_timeout: this.options.checkTimeoutMs,
        stream: () => this.createSocket(),
      },
      {
        paranoidChecking: this.options.checkIntervalMs,
        retryLimit: Number.POSITIVE_INFINITY,
        retryTimeout: 0,
        retryInterval: (attempt) => {
          if (this.closed || this.subscriber !== subscriber) throw new Error('pgpulse listener: reconnect stopped (closed)');
          return jitter(this.options.retryDelayMs(attempt + 1));
        },
        parse: (payload) => payload,
      },
    );
    subscriber.events.on('notification', (n) => {
      if (this.subscriber === subscriber) this.handlers.onNotification(n.channel, typeof n.payload === 'string' ? n.payload : '');
    });
    subscriber.events.on('reconnect', (attempt) => this.onReconnectAttempt(subscriber, attempt));
    subscriber.events.on('connected', () => this.onConnected(subscriber));
    subscriber.events.on('error', (error) => this.onGaveUp(subscriber, error));
    try {
      await subscriber.connect();
      for (const channel of this.options.channels) await subscriber.listenTo(channel);
      if (this.closed) throw new Error('pgpulse listener: closed while connecting');
      return subscriber;
    } catch (error) {
      await this.retire(subscriber);
      throw error;
    }
  }

  /** pg-listen starts reconnect attempt `attempt`; every socket made so far belongs to a lost connection or a failed attempt. */
  private onReconnectAttempt(subscriber: Subscriber, attempt: number): void {
    if (this.closed || subscriber !== this.subscriber) return;
    this.destroySockets();
    if (attempt === 1) {
      this.downSince = Date.now();
      const error =
        this.socketLoss ?? new Error(`pgpulse listener: the LISTEN connection did not answer the connection check within ${this.options.checkTimeoutMs} ms`);
      this.socketLoss = undefined;
      this.handlers.onDisconnect(error);
    } else {
      this.handlers.onReconnectFailed(new Error(`pgpulse listener: reconnect attempt ${attempt - 1} failed`), attempt - 1);
    }
    this.attempts = attempt;
  }

  /** pg-listen re-LISTENed on a new connection. */
  private onConnected(subscriber: Subscriber): void {
    if (subscriber !== this.subscriber) return;
    if (this.closed) {
      void this.retire(subscriber);
      return;
    }
    if (this.attempts === 0) return; // the first connect(), not a reconnect
    this.socketLoss = undefined;
    const attempts = this.attempts;
    this.attempts = 0;
    this.handlers.onReconnect({ attempts, downMs: Date.now() - this.downSince });
  }

  /** pg-listen gave up (re-LISTEN failed after a reconnect): replace the Subscriber, retrying forever. */
  private onGaveUp(subscriber: Subscriber, error: Error): void {
    if (subscriber !== this.subscriber || this.closed) return;
    this.subscriber = undefined;
    if (this.attempts === 0) {
      this.downSince = Date.now();
      this.handlers.onDisconnect(new Error(`pgpulse listener: the LISTEN connection failed: ${error.message}`, { cause: error }));
    } else {
      this.handlers.onReconnectFailed(new Error(`pgpulse listener: ${error.message}`, { cause: error }), this.attempts);
    }
    const loop = this.replace(subscriber).finally(() => {
      if (this.replacing === loop) this.replacing = undefined;
    });
    this.replacing = loop;
  }

  private async replace(old: Subscriber): Promise<void> {
    await this.retire(old);
    for (let attempt = this.attempts + 1; !this.isClosed(); attempt++) {
      await new Promise((resolve) => setTimeout(resolve, jitter(this.options.retryDelayMs(attempt))).unref());
      if (this.isClosed()) return;
      try {
        const subscriber = await this.open();
        if (this.isClosed()) {
          await this.retire(subscriber);
          return;
        }
        this.subscriber = subscriber;
        this.attempts = 0;
        this.socketLoss = undefined;
        this.handlers.onReconnect({ attempts: attempt, downMs: Date.now() - this.downSince });
        return;
      } catch (error) {
        if (!this.isClosed()) this.handlers.onReconnectFailed(error as Error, attempt);
      }
    }
  }

  /** Read through a method: `close()` flips it while this object awaits. */
  private isClosed(): boolean {
    return this.closed;
  }

  /** Closes a Subscriber for good and destroys what is left of its sockets. */
  private async retire(subscriber: Subscriber | undefined): Promise<void> {
    if (!subscriber) return;
    const ended = subscriber.close().catch(() => {});
    const timer = setTimeout(() => this.destroySockets(), 1_000);
    timer.unref();
    await ended;
    clearTimeout(timer);
    if (this.closed) this.destroySockets();
  }

  private createSocket(): Socket {
    if (this.closed) throw new Error('pgpulse listener: closed');
    const socket = new Socket();
    this.sockets.add(socket);
    const lost = (error?: Error) => {
      if (this.sockets.has(socket)) this.socketLoss ??= new Error(`pgpulse listener: the LISTEN connection was closed: ${error?.message ?? 'by the server'}`);
    };
    socket.once('error', lost);
    socket.once('close', () => {
      lost();
      this.sockets.delete(socket);
    });
    return socket;
  }

  private destroySockets(): void {
    for (const socket of this.sockets) {
      this.sockets.delete(socket);
      socket.destroy();
    }
  }
}

/**
 * pg-listen is CommonJS with `exports.default`; depending on how the runtime
 * maps it, the default import is the function itself or `{ default }`.
 */
const createSubscriber: typeof pgListen.default =
  typeof (pgListen as unknown) === 'function' ? (pgListen as unknown as typeof pgListen.default) : pgListen.default;

/** ±25% jitter, so many listeners do not reconnect in lockstep. */
function jitter(ms: number): number {
  return ms * (0.75 + Math.random() * 0.5);
}
