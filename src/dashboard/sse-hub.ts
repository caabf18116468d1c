import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import type { PubSub, PulseMessage } from '../pubsub.js';
import { EventRing, type RingEntry } from './event-ring.js';
import { rowMatchesFilters } from '../stats/row-matches-filters.js';
import { filterKeys, hasFilters, type StatsFilters } from '../stats/stats-filters.js';
import { nonNegativeNumber, parseOption, positiveNumber } from '../shared/option-schema.js';

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
 *
 * A client may ask for the rows matching some filters only (the stats'
 * filters, checked in JS by `rowMatchesFilters`): clients with the same
 * filters share one filtered batch per flush, and a resume replays only the
 * matching rows.
 */
export class SseHub extends EventEmitter<SseHubEvents> {
  readonly stats: SseHubStats = { clients: 0, events: 0, flushes: 0, slowClientsDropped: 0, replayed: 0, replayGaps: 0 };
  /** Each client and the key of its filters ('' for none). */
  private readonly clients = new Map<ServerResponse, { key: string; filters: StatsFilters }>();
  private readonly ring: EventRing;
  private readonly boot = randomBytes(4).toString('hex');
  private pending: RingEntry[] = [];
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

  /**
   * Takes over a response as an event stream, first replaying what a
   * reconnecting client missed; with `filters`, only the rows matching them.
   */
  attach(res: ServerResponse, lastEventId: string | undefined, filters: StatsFilters = {}): void {
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
    const client = { key: filtersKey(filters), filters };
    res.write(`retry: 2000\n: connected\n\n${lastEventId ? this.replay(lastEventId.trim(), client.filters) : ''}`);
    this.clients.set(res, client);
    this.stats.clients = this.clients.size;
    res.on('close', () => {
      this.clients.delete(res);
      this.stats.clients = this.clients.size;
    });
  }

  /**
   * Sends every client a frame `event: <event>` with `data` as JSON, outside
   * the row sequence: it carries no id and is never replayed, so a
   * reconnecting client's `Last-Event-ID` still names its last row.
   */
  notify(event: string, data: unknown): void {
    if (this.closed || !/^[a-z][\w-]*$/i.test(event)) return;
    this.broadcast(Buffer.from(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`));
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
    for (const res of this.clients.keys()) res.end();
    this.clients.clear();
    this.stats.clients = 0;
  }

  /** Frames newer than `lastEventId`, joined; counts a gap when the id is no longer in the ring. */
  private replay(lastEventId: string, filters: StatsFilters): string {
    const frames = this.ring.after(lastEventId);
    if (frames.gap) {
      this.stats.replayGaps++;
      if (this.listenerCount('replayGap') > 0) this.emit('replayGap', { lastEventId });
    }
    // The newest frames may still wait for the next flush, which writes them to this client too.
    const held = this.pending.length > 0 ? frames.entries.slice(0, Math.max(0, frames.entries.length - this.pending.length)) : frames.entries;
    const replayed = matching(held, filters);
    this.stats.replayed += replayed.length;
    return replayed.map((e) => e.frame).join('');
  }

  private onMessage(message: PulseMessage): void {
    const rowId = message.event.id;
    const seq = ++this.seq;
    const id = typeof rowId === 'number' ? String(rowId) : `${this.boot}-${seq}`;
    const frame = `id: ${id}\nevent: request\ndata: ${toWire(message.event)}\n\n`;
    this.stats.events++;
    const entry = { id, rowId, frame, row: message.event };
    this.ring.push(entry);
    this.pending.push(entry);
    if (this.flushTimer) return;
    this.flushTimer = setTimeout(() => this.flush(), this.flushIntervalMs);
    this.flushTimer.unref();
  }

  private flush(): void {
    this.flushTimer = undefined;
    const entries = this.pending;
    this.pending = [];
    if (entries.length === 0) return;
    // One batch per set of filters, encoded once for the clients that share it; none when no row matches.
    const batches = new Map<string, Buffer | null>();
    this.broadcast((client) => {
      let batch = batches.get(client.key);
      if (batch === undefined) {
        const rows = matching(entries, client.filters);
        batch = rows.length === 0 ? null : Buffer.from(rows.map((e) => e.frame).join(''));
        batches.set(client.key, batch);
      }
      return batch;
    });
    this.stats.flushes++;
  }

  /**
   * Writes to every client the bytes `chunkOf` gives it (null: nothing),
   * dropping those that fell too far behind.
   */
  private broadcast(chunkOf: Buffer | ((client: { key: string; filters: StatsFilters }) => Buffer | null)): void {
    for (const [res, client] of this.clients) {
      const buffered = res.writableLength;
      if (buffered > this.maxClientBufferBytes) {
        this.stats.slowClientsDropped++;
        this.clients.delete(res);
        res.destroy();
        if (this.listenerCount('slowClientDropped') > 0) this.emit('slowClientDropped', { bufferedBytes: buffered });
        continue;
      }
      const chunk = typeof chunkOf === 'function' ? chunkOf(client) : chunkOf;
      if (chunk) res.write(chunk);
    }
    this.stats.clients = this.clients.size;
  }
}

/** The entries whose rows match the filters (all of them without filters). */
function matching(entries: RingEntry[], filters: StatsFilters): RingEntry[] {
  return hasFilters(filters) ? entries.filter((e) => rowMatchesFilters(filters, e.row)) : entries;
}

/** A canonical key of a set of filters ('' for none): clients with the same key share a batch. */
function filtersKey(filters: StatsFilters): string {
  return hasFilters(filters) ? JSON.stringify(filterKeys.map((key) => filters[key] ?? null)) : '';
}

const positive = (value: number, name: string): number => parseOption('pgpulse dashboard', name, positiveNumber, value);
const nonNegative = (value: number, name: string): number => parseOption('pgpulse dashboard', name, nonNegativeNumber, value);
