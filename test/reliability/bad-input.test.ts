import { connect as netConnect } from 'node:net';
import { createServer, type Server } from 'node:http';
import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BRIDGE_MESSAGE_VERSION, decodeBridgeMessage, encodeBridgeMessage } from '../../src/bridge/message.js';
import { parseStatsParams } from '../../src/stats/stats-params.js';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import { deviceTypes, InvalidRequestLogError, parseRequestLog, type RequestLog } from '../../src/schema/request-log.js';
import { createMigratedTestDatabase, type TestDatabase } from '../support/database.js';
import { closeServer, listen } from '../support/http.js';

/** Figures reported in the README's reliability section. */
const tried = { schemaInputs: 0, decoderInputs: 0, statsParamInputs: 0, storedRoundTrips: 0, rawRequests: 0 };

const text = (maxLength: number) => fc.string({ unit: 'binary', maxLength }).filter((s) => !s.includes('\u0000'));
const nullable = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: null });
const validLog: fc.Arbitrary<RequestLog> = fc.record({
  request_id: text(200).filter((s) => s.length > 0),
  method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', "'; DROP TABLE x; --"),
  path: text(500).map((s) => `/${s}`),
  route: nullable(text(100)),
  status_code: fc.integer({ min: 100, max: 999 }),
  duration_ms: fc.double({ min: 0, max: 1e6, noNaN: true }),
  response_bytes: nullable(fc.integer({ min: 0, max: 2 ** 40 })),
  user_agent: nullable(text(2000)),
  referer: nullable(text(300)),
  device_type: fc.constantFrom(...deviceTypes),
  visitor_id: nullable(text(64)),
  session_id: nullable(text(64)),
  node_id: text(50).filter((s) => s.length > 0),
  ip: nullable(text(40)),
  inserted_at: fc.date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }),
  referer_host: nullable(text(253)),
  browser: nullable(text(32)),
  os: nullable(text(32)),
  country: nullable(fc.constantFrom('DE', 'US', 'JP', 'BR')),
  trace_id: nullable(fc.stringMatching(/^[0-9a-f]{32}$/)),
  span_id: nullable(fc.stringMatching(/^[0-9a-f]{16}$/)),
  attributes: nullable(
    fc.dictionary(
      fc.stringMatching(/^[a-zA-Z_][a-zA-Z0-9_.-]{0,20}$/),
      fc.oneof(
        text(40).map((s) => (s as unknown as { toWellFormed(): string }).toWellFormed()),
        fc.double({ noNaN: true, noDefaultInfinity: true }),
        fc.boolean(),
      ),
      { maxKeys: 4 },
    ),
  ),
  consumer_id: nullable(
    text(128)
      .filter((s) => s.length > 0)
      .map((s) => (s as unknown as { toWellFormed(): string }).toWellFormed()),
  ),
  consumer_name: nullable(text(256).filter((s) => s.length > 0)),
  consumer_group: nullable(text(128).filter((s) => s.length > 0)),
  error_fingerprint: nullable(fc.stringMatching(/^[0-9a-f]{16}$/)),
  error: nullable(
    fc.record({
      class: text(128)
        .filter((s) => s.length > 0)
        .map((s) => (s as unknown as { toWellFormed(): string }).toWellFormed()),
      message: text(200).map((s) => (s as unknown as { toWellFormed(): string }).toWellFormed()),
      frames: fc.array(
        text(100).map((s) => (s as unknown as { toWellFormed(): string }).toWellFormed()),
        { maxLength: 10 },
      ),
    }),
  ),
});

describe('bad input', () => {
  let database: TestDatabase;
  let pulse: Pulse;

  beforeAll(async () => {
    database = await createMigratedTestDatabase();
    pulse = createPulse({ connectionString: database.url, nodeId: 'bad-input' });
    await pulse.migrate();
  });
  beforeEach(async () => {
    await sql`truncate pgpulse.request_logs`.execute(pulse.db);
  });
  afterAll(async () => {
    console.log('[reliability] inputs tried', JSON.stringify(tried));
    await pulse.close();
    await database.drop();
  });

  it('RequestLog schema: any value is either a valid log or an InvalidRequestLogError', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.anything(),
          validLog.map((l) => ({ ...l, status_code: l.status_code * 7 })),
        ),
        (value) => {
          tried.schemaInputs++;
          try {
            const parsed = parseRequestLog(value);
            expect(parsed.status_code).toBeGreaterThanOrEqual(100);
          } catch (error) {
            expect(error).toBeInstanceOf(InvalidRequestLogError);
            expect((error as Error).message).toMatch(/^Invalid RequestLog: /);
          }
        },
      ),
      { numRuns: 2_000 },
    );
  });

  it('stores any valid log verbatim: SQL meta-characters, control characters, odd Unicode', async () => {
    const logs = fc.sample(validLog, 300);
    for (const log of logs) pulse.pubsub.broadcast(log);
    await pulse.flush();
    const rows = await pulse.db.selectFrom('pgpulse.request_logs').selectAll().orderBy('id').execute();
    expect(rows).toHaveLength(logs.length);
    rows.forEach((row, i) => {
      const log = logs[i]!;
      tried.storedRoundTrips++;
      // Lone UTF-16 surrogates cannot exist in UTF-8 text: they are stored as U+FFFD.
      const wf = (s: string | null) => (s === null ? null : (s as unknown as { toWellFormed(): string }).toWellFormed());
      expect(row.path).toBe(wf(log.path));
      expect(row.user_agent).toBe(wf(log.user_agent));
      expect(row.method).toBe(log.method);
      expect(row.route).toBe(wf(log.route));
      expect(row.status_code).toBe(log.status_code);
      expect(row.duration_ms).toBe(log.duration_ms);
      expect(row.response_bytes === null ? null : Number(row.response_bytes)).toBe(log.response_bytes);
      expect(row.inserted_at.getTime()).toBe(log.inserted_at.getTime());
      expect(row.trace_id).toBe(log.trace_id);
      expect(row.span_id).toBe(log.span_id);
      // -0 is stored as 0 (JSON has no negative zero).
      expect(row.attributes).toEqual(log.attributes && Object.fromEntries(Object.entries(log.attributes).map(([k, v]) => [k, Object.is(v, -0) ? 0 : v])));
    });
    expect(pulse.stats.writer).toMatchObject({ rejected: 0, dropped: 0 });
  });

  it('NOTIFY decoder: arbitrary payloads decode or fail with a precise Error, never anything else', () => {
    const payloads = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 8000 }),
      fc.json(),
      fc.anything().map((v) => JSON.stringify(v) ?? 'undefined'),
      fc
        .record({ v: fc.constantFrom(1, 2, 3, '2'), o: fc.string(), b: fc.string(), n: fc.integer(), tx: fc.string(), ids: fc.anything() })
        .map((v) => JSON.stringify(v)),
    );
    fc.assert(
      fc.property(payloads, (payload) => {
        tried.decoderInputs++;
        try {
          const message = decodeBridgeMessage(payload);
          if ('otherVersion' in message) expect(message.v).not.toBe(BRIDGE_MESSAGE_VERSION);
          else expect(message.v).toBe(BRIDGE_MESSAGE_VERSION);
        } catch (error) {
          expect(error).toBeInstanceOf(Error);
          expect((error as Error).message).toMatch(/^pgpulse bridge: /);
        }
      }),
      { numRuns: 3_000 },
    );
  });

  it('NOTIFY encoder output always decodes and stays under the payload limit', () => {
    fc.assert(
      fc.property(fc.array(validLog, { minLength: 1, maxLength: 60 }), fc.integer({ min: 1, max: 2 ** 40 }), (logs, firstId) => {
        tried.decoderInputs++;
        const rows = logs.map((l, i) => ({ ...l, id: firstId + i }));
        const payload = encodeBridgeMessage({ nodeId: 'n', batchId: 'b', txId: '123', rows });
        expect(Buffer.byteLength(payload)).toBeLessThan(8000);
        const message = decodeBridgeMessage(payload);
        expect('otherVersion' in message ? -1 : message.n).toBe(rows.length);
      }),
      { numRuns: 300 },
    );
  });

  it('stats query parameters: arbitrary query strings parse or yield a 400 issue list, never a throw', () => {
    const keys = fc.constantFrom('from', 'to', 'tz', 'route', 'token', 'limit', "from'; drop table x;--", '__proto__', 'constructor');
    const valuesArb = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 300 }),
      fc.integer().map(String),
      fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
      fc.constantFrom('Europe/Paris', 'UTC', 'Mars/Base', '1e309', '-1'),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(keys, valuesArb), { maxLength: 6 }), (pairs) => {
        tried.statsParamInputs++;
        const result = parseStatsParams(new URLSearchParams(pairs));
        if (result.ok) {
          expect(result.params.from.getTime()).toBeLessThan(result.params.to.getTime());
          expect(Number.isNaN(result.params.from.getTime())).toBe(false);
        } else {
          expect(result.issues.length).toBeGreaterThan(0);
          for (const issue of result.issues) expect(typeof issue.message).toBe('string');
        }
      }),
      { numRuns: 3_000 },
    );
  });

  describe('over real HTTP', () => {
    let server: Server;
    let bigServer: Server;
    let base: string;
    let bigBase: string;

    beforeAll(async () => {
      server = createServer(pulse.wrap((_req, res) => res.end('ok')));
      bigServer = createServer(
        { maxHeaderSize: 256 * 1024 },
        pulse.wrap((_req, res) => res.end('ok')),
      );
      base = await listen(server);
      bigBase = await listen(bigServer);
    });
    afterAll(async () => {
      await closeServer(server);
      await closeServer(bigServer);
    });

    it('a 64 KB user agent: refused by a default server (431) without harm, stored whole when the app allows big headers', async () => {
      const ua = 'A'.repeat(64 * 1024);
      const refused = await fetch(`${base}/big`, { headers: { 'user-agent': ua } })
        .then((r) => r.status)
        .catch(() => 'reset');
      expect([431, 'reset']).toContain(refused);
      const accepted = await fetch(`${bigBase}/big`, { headers: { 'user-agent': ua } });
      expect(accepted.status).toBe(200);
      expect((await fetch(`${base}/after`)).status).toBe(200);
      await pulse.flush();
      const rows = await pulse.db.selectFrom('pgpulse.request_logs').select(['path', 'user_agent']).orderBy('id').execute();
      expect(rows.map((r) => r.path)).toEqual(['/big', '/after']);
      expect(rows[0]!.user_agent).toBe(ua);
      tried.rawRequests += 3;
    });

    it('non-UTF-8 bytes, control characters and SQL in raw request lines are stored or refused, never executed', async () => {
      const port = new URL(base).port;
      const targets = [
        Buffer.from('/caf\xc3\xa9/\xff\xfe/x', 'latin1'),
        Buffer.from("/search/'%3B%20DROP%20TABLE%20pgpulse.request_logs%3B--"),
        Buffer.from("/q/';DROP/**/TABLE/**/x;--"),
        Buffer.from('/nul/%00/end'),
        Buffer.from('/ctl/\x01\x7f', 'latin1'),
        Buffer.from('/' + 'z'.repeat(10_000)),
      ];
      const answers: string[] = [];
      for (const target of targets) {
        answers.push(
          await new Promise<string>((resolve) => {
            const socket = netConnect(Number(port), '127.0.0.1');
            let data = '';
            socket.on('data', (d) => (data += d.toString('latin1')));
            socket.on('error', () => resolve('error'));
            socket.on('close', () => resolve(data.split('\r\n')[0] ?? ''));
            socket.write(
              Buffer.concat([
                Buffer.from('GET '),
                target,
                Buffer.from(' HTTP/1.1\r\nHost: x\r\nUser-Agent: \'"; select pg_sleep(10); --\r\nConnection: close\r\n\r\n'),
              ]),
            );
          }),
        );
        tried.rawRequests++;
      }
      for (const answer of answers) expect(answer).toMatch(/^HTTP\/1\.1 (200|400)/);
      await pulse.flush();
      const rows = await pulse.db.selectFrom('pgpulse.request_logs').select(['path', 'user_agent']).execute();
      expect(rows.length).toBe(answers.filter((a) => a.includes(' 200')).length);
      for (const row of rows) expect(row.user_agent).toBe('\'"; select pg_sleep(10); --');
      expect(rows.map((r) => r.path)).toContain("/q/';DROP/**/TABLE/**/x;--");
      const stillThere = await sql<{ ok: boolean }>`select to_regclass('pgpulse.request_logs') is not null as ok`.execute(pulse.db);
      expect(stillThere.rows[0]!.ok).toBe(true);
      expect((await fetch(`${base}/alive`)).status).toBe(200);
    });
  });
});
