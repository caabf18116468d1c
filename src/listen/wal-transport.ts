import { randomBytes } from 'node:crypto';
import { Socket } from 'node:net';
import type pg from 'pg';
import { LogicalReplicationService, PgoutputPlugin } from 'pg-logical-replication';
import { explainWalError } from './wal-errors.js';
import type { ListenTransport, TransportHandlers } from './transport.js';

/** Options of the logical-replication transport. */
export interface WalTransportOptions {
  /** Postgres URL of the replication connection (direct to Postgres: a pooler cannot carry it). */
  connectionString: string;
  /** `application_name` of the replication connection. */
  applicationName: string;
  /** Publication to stream (created by migration 0010). */
  publication: string;
  /** Timeout of one connection attempt, in milliseconds. */
  connectTimeoutMs: number;
  /** Interval of the liveness ping on the replication connection, in milliseconds. */
  checkIntervalMs: number;
  /** The connection counts as lost when the server sends nothing for this long after a ping, in milliseconds. */
  checkTimeoutMs: number;
  /** Delay before reconnect attempt `attempt` (1-based), in milliseconds. */
  retryDelayMs: (attempt: number) => number;
  /**
   * Most rows of one transaction held until its commit; a larger transaction
   * (a bulk import, maintenance moving a day out of the default partition) is
   * not buffered but left to the listener's catch-up, which pages through it.
   */
  maxTransactionRows: number;
}

/** One stream: a replication connection with its temporary slot. */
interface Stream {
  service: LogicalReplicationService;
  sockets: Set<Socket>;
  lastHeardAt: number;
  timer: NodeJS.Timeout | undefined;
  lost: boolean;
  /** Why it was lost, when it was (not set by a deliberate stop). */
  lostError?: Error;
  /** Inserts of the transaction being received, handed over at its commit. */
  pending: WalRow[];
  /** Inserts of the transaction being received that were not buffered (it exceeded `maxTransactionRows`); 0 while it has not. */
  skipped: number;
}

/** A row of `pgpulse.request_logs` as pgoutput decoded it (text columns parsed by pg's type parsers). */
export type WalRow = Record<string, unknown>;

/**
 * Streams inserts into `pgpulse.request_logs` from the WAL: logical
 * replication with the `pgoutput` plugin over a TEMPORARY slot, through
 * `pg-logical-replication` (it speaks the replication protocol, parses
 * pgoutput with pg's own type parsers and sends standby status updates).
 *
 * Each (re)connect creates a fresh temporary slot on the replication
 * connection before streaming from its consistent point, and only then
 * reports the connection as up: the listener's catch-up, which runs after
 * that, covers every transaction committed before the slot, and the stream
 * covers every one after it. A temporary slot disappears with its session,
 * so a dead listener leaves no WAL behind. Positions are acknowledged as they
 * arrive (the library's auto-acknowledge): nothing is replayed from the slot
 * after a loss, because a new slot and a catch-up replace it.
 */
export class WalTransport implements ListenTransport {
  private stream: Stream | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;
  private reconnecting: Promise<void> | undefined;

  constructor(
    private readonly options: WalTransportOptions,
    private readonly handlers: TransportHandlers,
  ) {}

  async connect(): Promise<void> {
    if (this.closed) throw new Error('pgpulse listener: transport closed');
    this.stream = await this.open();
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true;
      const stream = this.stream;
      this.stream = undefined;
      await this.retire(stream);
      await this.reconnecting;
    })();
    return this.closing;
  }

  /** Connects, creates the temporary slot and starts streaming; rejects with an explained error. */
  private async open(): Promise<Stream> {
    const sockets = new Set<Socket>();
    const clientConfig: pg.ClientConfig = {
      connectionString: this.options.connectionString,
      application_name: this.options.applicationName,
      connectionTimeoutMillis: this.options.connectTimeoutMs,
      stream: () => {
        if (this.closed) throw new Error('pgpulse listener: closed');
        const socket = new Socket();
        sockets.add(socket);
        socket.once('close', () => sockets.delete(socket));
        return socket;
      },
    };
    const service = new LogicalReplicationService(clientConfig, { acknowledge: { auto: true, timeoutSeconds: 1 } });
    const stream: Stream = { service, sockets, lastHeardAt: Date.now(), timer: undefined, lost: false, pending: [], skipped: 0 };
    const plugin = new TemporarySlotPlugin(this.options.publication);
    const started = new Promise<void>((resolve) => service.once('start', () => resolve()));
    service.on('error', (error: Error) => this.onLost(stream, error));
    // Answer keepalives with their position: otherwise the slot keeps WAL
    // while nothing is published, and a shutting-down server waits for us.
    service.on('heartbeat', (lsn: string, _timestamp: number, shouldRespond: boolean) => {
      stream.lastHeardAt = Date.now();
      if (shouldRespond && !stream.lost) void service.acknowledge(lsnBefore(lsn)).catch(() => {});
    });
    // Runs inside pg's socket handler: a throw here would be an uncaught exception in the host app.
    service.on('data', (lsn: string, message: PgoutputMessage | MalformedMessage) => {
      stream.lastHeardAt = Date.now();
      if (stream.lost) return;
      try {
        if (isMalformed(message)) this.onMalformed(stream, `${message.payload} at ${lsn}`, message.error);
        else this.onMessage(stream, message);
      } catch (error) {
        this.onMalformed(stream, `pgoutput message '${message.tag}' at ${lsn}`, error as Error);
      }
    });
    let failure: Error | undefined;
    const subscribed = service.subscribe(plugin, plugin.slotName).then(
      () => this.onLost(stream, new Error('the server ended the replication stream')),
      (error: unknown) => {
        failure ??= error as Error;
        this.onLost(stream, error as Error);
      },
    );
    try {
      await Promise.race([
        started,
        subscribed.then(() => {
          throw plugin.failure ?? failure ?? new Error('the replication stream ended before it started');
        }),
      ]);
    } catch (error) {
      await this.retire(stream);
      throw explainWalError(plugin.failure ?? error, this.options.publication);
    }
    if (this.closed) {
      await this.retire(stream);
      throw new Error('pgpulse listener: closed while connecting');
    }
    // Lost before it was ours to replace (an error or a malformed message in
    // the same read as the start): onLost could not reconnect it, so this attempt fails.
    if (stream.lost) {
      await this.retire(stream);
      throw explainWalError(stream.lostError ?? new Error('the replication stream ended as it started'), this.options.publication);
    }
    this.watch(stream);
    return stream;
  }

  /** Pings the server each interval; silence past `checkTimeoutMs` counts as a lost connection. */
  private watch(stream: Stream): void {
    stream.lastHeardAt = Date.now();
    stream.timer = setInterval(() => {
      if (Date.now() - stream.lastHeardAt > this.options.checkTimeoutMs) {
        this.onLost(stream, new Error(`the replication connection did not answer within ${this.options.checkTimeoutMs} ms`));
        return;
      }
      void stream.service.acknowledge(stream.service.lastLsn(), true).catch(() => {});
    }, this.options.checkIntervalMs);
    stream.timer.unref();
  }

  /** Buffers the inserts of one transaction and hands them over at its commit (up to `maxTransactionRows`). */
  private onMessage(stream: Stream, message: PgoutputMessage): void {
    if (message.tag === 'begin') {
      stream.pending = [];
      stream.skipped = 0;
    } else if (message.tag === 'insert') {
      if (message.relation?.schema !== 'pgpulse' || message.relation.name !== 'request_logs' || !message.new) return;
      if (stream.skipped > 0) {
        stream.skipped++;
      } else if (stream.pending.length >= this.options.maxTransactionRows) {
        stream.skipped = stream.pending.length + 1;
        stream.pending = [];
      } else {
        stream.pending.push(message.new);
      }
    } else if (message.tag === 'commit') {
      const rows = stream.pending;
      const skipped = stream.skipped;
      stream.pending = [];
      stream.skipped = 0;
      if (skipped > 0) this.handlers.onRowsSkipped(skipped);
      else if (rows.length > 0) this.handlers.onRows(rows);
    }
  }

  /**
   * A message that could not be decoded: the stream's state (the relations
   * it described) can no longer be trusted, so it is replaced by a new slot
   * and a catch-up, which delivers the rows of the transaction it was part of.
   */
  private onMalformed(stream: Stream, payload: string, error: Error): void {
    try {
      this.handlers.onMalformed(payload, error);
    } finally {
      this.onLost(stream, new Error(`undecodable pgoutput message, replacing the stream: ${error.message}`, { cause: error }));
    }
  }

  private onLost(stream: Stream, error: Error): void {
    if (stream.lost) return;
    stream.lost = true;
    stream.lostError = error;
    clearInterval(stream.timer);
    if (this.closed || this.stream !== stream) return;
    this.stream = undefined;
    this.handlers.onDisconnect(explainWalError(error, this.options.publication));
    const downSince = Date.now();
    const loop = this.reconnect(stream, downSince).finally(() => {
      if (this.reconnecting === loop) this.reconnecting = undefined;
    });
    this.reconnecting = loop;
  }

  /* eslint-disable @typescript-eslint/no-unnecessary-condition -- close() sets `closed` during the awaits */
  private async reconnect(old: Stream, downSince: number): Promise<void> {
    await this.retire(old);
    for (let attempt = 1; !this.closed; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, this.options.retryDelayMs(attempt)).unref());
      if (this.closed) return;
      try {
        const stream = await this.open();
        if (this.closed) {
          await this.retire(stream);
          return;
        }
        this.stream = stream;
        this.handlers.onReconnect({ attempts: attempt, downMs: Date.now() - downSince });
        return;
      } catch (error) {
        if (!this.closed) this.handlers.onReconnectFailed(error as Error, attempt);
      }
    }
  } /* eslint-enable @typescript-eslint/no-unnecessary-condition */

  /** Stops a stream for good; its temporary slot goes with its session. Sockets of a silent connection are destroyed. */
  private async retire(stream: Stream | undefined): Promise<void> {
    if (!stream) return;
    stream.lost = true;
    clearInterval(stream.timer);
    const stopped = stream.service.destroy().catch(() => {});
    const timer = setTimeout(() => destroyAll(stream.sockets), 1_000);
    timer.unref();
    await stopped;
    clearTimeout(timer);
    destroyAll(stream.sockets);
  }
}

/**
 * The position just before `lsn`. `acknowledge(p)` reports p + 1 as written
 * and flushed; a server shutting down waits until a walsender's client
 * reports exactly the position it was sent, so keepalives are answered with
 * `lsnBefore(lsn)` (a workaround around pg-logical-replication, not a patch).
 */
export function lsnBefore(lsn: string): string {
  const [high = '0', low = '0'] = lsn.split('/');
  const value = (BigInt(`0x${high}`) << 32n) + BigInt(`0x${low}`);
  if (value === 0n) return '0/0';
  const before = value - 1n;
  return `${(before >> 32n).toString(16).toUpperCase()}/${(before & 0xffffffffn).toString(16).toUpperCase()}`;
}

function destroyAll(sockets: Set<Socket>): void {
  for (const socket of sockets) socket.destroy();
  sockets.clear();
}

/** What the library's pgoutput parser returns. */
type ParsedMessage = ReturnType<PgoutputPlugin['parse']>;

/** Tag of what {@link TemporarySlotPlugin.parse} returns for a message it cannot decode. */
const MALFORMED = 'pgpulse:malformed';

/** A message the pgoutput parser could not decode, described for the `malformed` event. */
interface MalformedMessage {
  tag: typeof MALFORMED;
  payload: string;
  error: Error;
}

function isMalformed(message: PgoutputMessage | MalformedMessage): message is MalformedMessage {
  return message.tag === MALFORMED;
}

/** The pgoutput messages this transport reads (the parser's output, narrowed). */
interface PgoutputMessage {
  tag: string;
  relation?: { schema: string; name: string };
  new?: WalRow | null;
}

/**
 * pgoutput over a TEMPORARY slot made on the replication connection itself
 * (a temporary slot belongs to the session that creates it, and the library
 * opens its own connection), streaming from the slot's consistent point.
 */
class TemporarySlotPlugin extends PgoutputPlugin {
  readonly slotName = `pgpulse_listen_${randomBytes(6).toString('hex')}`;
  /** Why the slot could not be created, when it could not. */
  failure: Error | undefined;

  constructor(private readonly publication: string) {
    super({ protoVersion: 1, publicationNames: [publication] });
  }

  /**
   * Parses one pgoutput message; one it cannot decode (a relation it was not
   * told about, an unknown tag, a short buffer) becomes a {@link MalformedMessage}
   * instead of a throw, which would escape from pg's socket handler.
   */
  override parse(buffer: Buffer): ParsedMessage {
    try {
      return super.parse(buffer);
    } catch (error) {
      const tag = buffer.length > 0 ? String.fromCharCode(buffer[0]!) : 'none';
      const payload = `pgoutput message '${tag}' of ${buffer.length} bytes (${buffer.subarray(0, 32).toString('hex')})`;
      const malformed: MalformedMessage = { tag: MALFORMED, payload, error: error instanceof Error ? error : new Error(String(error)) };
      // The library passes what parse() returns to the 'data' listeners untouched; ours tells the two apart by tag.
      return malformed as unknown as ParsedMessage;
    }
  }

  override async start(client: pg.Client, slotName: string): Promise<unknown> {
    try {
      await this.preflight(client);
      const created = await client.query<{ consistent_point: string }>(`CREATE_REPLICATION_SLOT ${slotName} TEMPORARY LOGICAL pgoutput NOEXPORT_SNAPSHOT`);
      const from = created.rows[0]?.consistent_point ?? '0/0';
      return await super.start(client, slotName, from);
    } catch (error) {
      this.failure ??= error as Error;
      throw error;
    }
  }

  /**
   * Checks the settings the stream needs, so the error names the one to
   * change: `wal_level`, and a publication that streams every column of
   * inserts into `pgpulse.request_logs` as that one relation (published
   * partition by partition, its rows would be ignored and only the periodic
   * catch-up would deliver them).
   */
  private async preflight(client: pg.Client): Promise<void> {
    // A walsender speaks only the simple query protocol: no parameters (`publication` is a checked identifier).
    const published = `from pg_publication_tables t where t.pubname = p.pubname and t.schemaname = 'pgpulse' and t.tablename = 'request_logs'`;
    const result = await client.query<PreflightRow>(
      `select current_setting('wal_level') as wal_level,
              p.pubname is not null as found,
              coalesce(p.pubinsert, false) as inserts,
              exists(select 1 ${published}) as root,
              (select string_agg(a.attname, ', ' order by a.attnum) from pg_attribute a
                where a.attrelid = to_regclass('pgpulse.request_logs') and a.attnum > 0 and not a.attisdropped
                  and exists(select 1 ${published} and not coalesce((to_jsonb(t) -> 'attnames') ? a.attname, true))) as left_out
         from (select 1) one left join pg_publication p on p.pubname = '${this.publication}'`,
    );
    const row = result.rows[0];
    if (row?.wal_level !== 'logical') throw new WalSettingError('wal_level', row?.wal_level ?? 'unknown');
    if (!row.found) throw new WalSettingError('publication', this.publication);
    if (!row.root) throw new WalSettingError('publication_root', this.publication);
    if (!row.inserts) throw new WalSettingError('publication_insert', this.publication);
    if (row.left_out) throw new WalSettingError('publication_columns', row.left_out);
  }
}

/** What {@link TemporarySlotPlugin.preflight} reads. */
interface PreflightRow {
  wal_level: string;
  /** The publication exists. */
  found: boolean;
  /** It publishes inserts. */
  inserts: boolean;
  /** It publishes `pgpulse.request_logs` as itself (not its partitions). */
  root: boolean;
  /** Columns of the table its column list leaves out (Postgres 15+), comma-separated; null when none. */
  left_out: string | null;
}

/** What the preflight found wrong: `value` is the current wal_level, the publication's name, or the columns left out. */
export type WalSetting = 'wal_level' | 'publication' | 'publication_root' | 'publication_insert' | 'publication_columns';

/** A server setting (or missing object) that prevents streaming the WAL. */
export class WalSettingError extends Error {
  override readonly name = 'WalSettingError';
  constructor(
    readonly setting: WalSetting,
    readonly value: string,
  ) {
    super(`${setting}: ${value}`);
  }
}
