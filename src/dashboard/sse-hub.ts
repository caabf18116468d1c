import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import type { PubSub, PulseMessage } from '../pubsub.js';
import { EventRing } from './event-ring.js';
import { nonNegativeOption, positiveOption } from '../shared/number-options.js';

export interface SseHubOptions {
  /** Comment line sent to every client this often to keep proxies from closing idle streams. Default 15,000 ms. */
  heartbeatMs?: number;
  /** Fresh rows are gathered and written to all clients once per interval. Default 100 ms. */
  flushIntervalMs?: number;
  /**
   * A client whose unsent output exceeds this many bytes when the next batch is
   * due is disconnected (its browser reconnects and resumes with
   * `Last-Event-ID`). Memory per client is bounded by this plus one batch.
   * Default 1,048,576 bytes (1 MiB).
   */
  maxClientBufferBytes?: number;
  /** Recent events kept for `Last-Event-ID` resume. Default 2,000 events. */
  replayEvents?: number;
}

export interface SseHubStats {
  /** Connected stream clients. */
  clients: number;
  /** Events serialised (once each, whatever the number of clients). */
  events: number;
  /** Batches of pending events written out (to every client, or to none), at most one per `flushIntervalMs`. */
  flushes: number;
  /** Clients disconnected because they could not keep up. */
  slowClientsDropped: number;
  /** Events replayed to reconnecting clients. */
  replayed: number;
  /** Reconnects whose `Last-Event-ID` was older than the replay ring (some rows were not replayed). */
  replayGaps: number;
}

/** Degraded-mode events of the live stream. */
export interface SseHubEvents {
  /** A client that stopped reading was disconnected; `bufferedBytes` were waiting for it. */
  slowClientDropped: [info: { bufferedBytes: number }];
  /** A reconnecting client asked to resume from an id the ring no longer holds. */
  replayGap: [info: { lastEventId: string }];
}

/** Fields sent to browsers: the row without the raw IP. */
function toWire(event: PulseMessage['event']): string {
  const { ip: _ip, ...rest } = event;
  return JSON.stringify(rest);
}

/**
 * Fans fresh rows out to Server-Sent-Events clients. Each row is serialised
 * once and each batch encoded once; the same bytes are written to every
 * client once per `flushIntervalMs`. Slow clients are dropped instead of
 * buffering without bound, and reconnecting clients resume from
 * `Last-Event-ID` out of a ring of recent events.
 *
 * SSE ids are the row `id` when the event carries one (rows relayed by the
 * NOTIFY bridge), else `<boot>-<seq>`, a sequence of this hub.
 */
export class SseHub extends EventEmitter<SseHubEvents> {
  readonly stats: SseHubStats = { clients: 0, events: 0, flushes: 0, slowClientsDropped: 0, replayed: 0, replayGaps: 0 };
  private readonly clients = new Set<ServerResponse>();
  private readonly ring: EventRing;
  private readonly boot = randomBytes(4).toString('hex');
  private pending: string[] = [];
  private seq = 0;
  private readonly unsubscribe: () => void;
  private readonly heartbeat: NodeJS.Timeout;
  private flushTimer: NodeJS.Timeout | undefined;
  private readonly flushIntervalMs: number;
  private readonly maxClientBufferBytes: number;
  private closed = false;

  constructor(pubsub: PubSub, options: SseHubOptions = {}) {
    super();
    const heartbeatMs = positive(options.heartbeatMs ?? 15_000, 'heartbeatMs');
    this.flushIntervalMs = nonNegative(options.flushIntervalMs ?? 100, 'flushIntervalMs');
    this.maxClientBufferBytes = positive(options.maxClientBufferBytes ?? 1024 * 1024, 'maxClientBufferBytes');
    this.ring = new EventRing(positive(options.replayEvents ?? 2_000, 'replayEvents'));
    this.unsubscribe = pubsub.subscribe((message) => this.onMessage(message), { name: 'pgpulse-dashboard', maxQueue: 100_000 });
    this.heartbeat = setInterval(() => this.broadcast(Buffer.from(': heartbeat\n\n')), heartbeatMs);
    this.heartbeat.unref();
  }

  /** Takes over a response as an event stream, first replaying what a reconnecting client missed. */
  attach(res: ServerResponse, lastEventId: string | undefined): void {
    if (this.closed) {
      res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' }).end('pgpulse dashboard is closing');
      return;
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.socket?.setNoDelay(true);
    res.write(`retry: 2000\n: connected\n\n${lastEventId ? this.replay(lastEventId.trim()) : ''}`);
    this.clients.add(res);
    this.stats.clients = this.clients.size;
    res.on('close', () => {
      this.clients.delete(res);
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
    this.flushTimer = undefined;
    this.pending = [];
    for (const res of this.clients) res.end();
    this.clients.clear();
    this.stats.clients = 0;
  }

  /** Frames newer than `lastEventId`, joined; counts a gap when the id is no longer in the ring. */
  private replay(lastEventId: string): string {
    const frames = this.ring.after(lastEventId);
    if (frames.gap) {
      this.stats.replayGaps++;
      if (this.listenerCount('replayGap') > 0) this.emit('replayGap', { lastEventId });
    }
    // The newest frames may still wait for the next flush, which writes them to this client too.
    const replayed = this.pending.length > 0 ? frames.frames.slice(0, Math.max(0, frames.frames.length - this.pending.length)) : frames.frames;
    this.stats.replayed += replayed.length;
    return replayed.join('');
  }

  private onMessage(message: PulseMessage): void {
    const rowId = message.event.id;
    const seq = ++this.seq;
    const id = typeof rowId === 'number' ? String(rowId) : `${this.boot}-${seq}`;
    const frame = `id: ${id}\nevent: request\ndata: ${toWire(message.event)}\n\n`;
    this.stats.events++;
    this.ring.push({ id, rowId, frame });
    this.pending.push(frame);
    if (this.flushTimer) return;
    this.flushTimer = setTimeout(() => this.flush(), this.flushIntervalMs);
    this.flushTimer.unref();
  }

  private flush(): void {
    this.flushTimer = undefined;
    const frames = this.pending;
    this.pending = [];
    if (frames.length === 0) return;
    this.broadcast(Buffer.from(frames.join('')));
    this.stats.flushes++;
  }

  /** Writes the same bytes to every client, dropping those that fell too far behind. */
  private broadcast(chunk: Buffer): void {
    for (const res of this.clients) {
      const buffered = res.writableLength;
      if (buffered > this.maxClientBufferBytes) {
        this.stats.slowClientsDropped++;
        this.clients.delete(res);
        res.destroy();
        if (this.listenerCount('slowClientDropped') > 0) this.emit('slowClientDropped', { bufferedBytes: buffered });
        continue;
      }
      res.write(chunk);
    }
    this.stats.clients = this.clients.size;
  }
}

const positive = (value: number, name: string): number => positiveOption('pgpulse dashboard', name, value);
const nonNegative = (value: number, name: string): number => nonNegativeOption('pgpulse dashboard', name, value);
