import type { ServerResponse } from 'node:http';
import type { PubSub, PulseMessage } from '../pubsub.js';

export interface SseHubOptions {
  /** Comment line sent to every client this often to keep proxies from closing idle streams. Default 15,000 ms. */
  heartbeatMs?: number;
  /** Fresh rows are gathered and written to all clients once per interval. Default 100 ms. */
  flushIntervalMs?: number;
  /** A client whose unsent output exceeds this is disconnected (it reconnects and resumes). Default 1 MiB. */
  maxClientBufferBytes?: number;
  /** Recent events kept for `Last-Event-ID` resume. Default 2,000 events. */
  replayEvents?: number;
}

export interface SseHubStats {
  clients: number;
  /** Events serialised (once each, whatever the number of clients). */
  events: number;
  /** Clients disconnected because they could not keep up. */
  slowClientsDropped: number;
  /** Events replayed to reconnecting clients. */
  replayed: number;
}

interface Client {
  res: ServerResponse;
}

/** Fields sent to browsers: the row without the raw IP. */
function toWire(event: PulseMessage['event']): string {
  const { ip: _ip, ...rest } = event;
  return JSON.stringify(rest);
}

/**
 * Fans fresh rows out to Server-Sent-Events clients: each row is serialised
 * once, writes are batched per `flushIntervalMs`, slow clients are dropped
 * instead of buffering without bound, and reconnecting clients resume from
 * `Last-Event-ID` out of a ring of recent events.
 */
export class SseHub {
  readonly stats: SseHubStats = { clients: 0, events: 0, slowClientsDropped: 0, replayed: 0 };
  private readonly clients = new Set<Client>();
  private readonly ring: { seq: number; frame: string }[] = [];
  private pending = '';
  private seq = 0;
  private readonly unsubscribe: () => void;
  private readonly heartbeat: NodeJS.Timeout;
  private flushTimer: NodeJS.Timeout | undefined;
  private readonly heartbeatMs: number;
  private readonly flushIntervalMs: number;
  private readonly maxClientBufferBytes: number;
  private readonly replayEvents: number;
  private closed = false;

  constructor(pubsub: PubSub, options: SseHubOptions = {}) {
    this.heartbeatMs = options.heartbeatMs ?? 15_000;
    this.flushIntervalMs = options.flushIntervalMs ?? 100;
    this.maxClientBufferBytes = options.maxClientBufferBytes ?? 1024 * 1024;
    this.replayEvents = options.replayEvents ?? 2_000;
    this.unsubscribe = pubsub.subscribe((message) => this.onMessage(message), { name: 'pgpulse-dashboard', maxQueue: 100_000 });
    this.heartbeat = setInterval(() => this.broadcast(': heartbeat\n\n'), this.heartbeatMs);
    this.heartbeat.unref();
  }

  /** Takes over a response as an event stream. */
  attach(res: ServerResponse, lastEventId: string | undefined): void {
    if (this.closed) {
      res.writeHead(503).end();
      return;
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.socket?.setNoDelay(true);
    let hello = `retry: 2000\n: connected\n\n`;
    const last = lastEventId === undefined ? NaN : Number(lastEventId);
    if (Number.isInteger(last)) {
      const missed = this.ring.filter((e) => e.seq > last);
      this.stats.replayed += missed.length;
      hello += missed.map((e) => e.frame).join('');
    }
    res.write(hello);
    const client: Client = { res };
    this.clients.add(client);
    this.stats.clients = this.clients.size;
    res.on('close', () => {
      this.clients.delete(client);
      this.stats.clients = this.clients.size;
    });
  }

  /** Ends every stream and stops listening. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
    clearInterval(this.heartbeat);
    if (this.flushTimer) clearTimeout(this.flushTimer);
    for (const client of this.clients) client.res.end();
    this.clients.clear();
    this.stats.clients = 0;
  }

  private onMessage(message: PulseMessage): void {
    const seq = ++this.seq;
    const frame = `id: ${seq}\nevent: request\ndata: ${toWire(message.event)}\n\n`;
    this.stats.events++;
    this.ring.push({ seq, frame });
    if (this.ring.length > this.replayEvents) this.ring.splice(0, this.ring.length - this.replayEvents);
    this.pending += frame;
    if (!this.flushTimer) {
      this.flushTimer = setTimeout(() => {
        this.flushTimer = undefined;
        const chunk = this.pending;
        this.pending = '';
        this.broadcast(chunk);
      }, this.flushIntervalMs);
      this.flushTimer.unref();
    }
  }

  private broadcast(chunk: string): void {
    if (!chunk) return;
    for (const client of this.clients) {
      const res = client.res;
      if (res.writableLength > this.maxClientBufferBytes) {
        this.stats.slowClientsDropped++;
        this.clients.delete(client);
        res.destroy();
        continue;
      }
      res.write(chunk);
    }
    this.stats.clients = this.clients.size;
  }
}
