import { createServer, type Server } from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import { createDashboard, type Dashboard } from '../../src/dashboard/index.js';
import { csvCell } from '../../src/dashboard/export-rows.js';
import { eventually, makeLog } from '../support/fixtures.js';
import { closeServer, listen } from '../support/http.js';
import { test } from '../support/migrated-database.js';

const TOKEN = 'export-token';
const auth = { authorization: `Bearer ${TOKEN}` };
const ROWS = 300_000;

/** A full garbage collection, so samples show what is retained, not garbage not yet collected. */
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

describe('GET /api/export', () => {
  let pulse: Pulse;
  let dashboard: Dashboard;
  let server: Server;
  let base: string;
  const t0 = Date.parse('2031-03-01T00:00:00Z');
  const from = t0;
  const to = t0 + 86_400_000;

  test.beforeAll(async ({ database }) => {
    pulse = createPulse({ connectionString: database.url, maxWaitMs: 10 });
    // A few hundred thousand rows over one day, written by Postgres itself (fast), plus hostile cells.
    await sql`insert into pgpulse.request_logs (request_id, method, path, route, status_code, duration_ms, response_bytes, user_agent, referer, device_type, visitor_id, session_id, node_id, ip, inserted_at)
      select 'r' || i, 'GET', '/items/' || (i % 1000), '/items/:id', case when i % 50 = 0 then 503 else 200 end, (i % 97)::float8, 512,
        'Mozilla/5.0', case when i % 3 = 0 then 'https://www.news.example/a?b=c' end, case when i % 4 = 0 then 'mobile' else 'desktop' end,
        'v' || (i % 5000), 's' || (i % 9000), 'node-' || (i % 2), '10.0.0.' || (i % 200), ${new Date(from)}::timestamptz + (i * interval '250 ms')
      from generate_series(1, ${ROWS - 1}) i`.execute(pulse.db);
    pulse.pubsub.publish(
      makeLog({ request_id: 'hostile', path: '/a,"b"\nc', user_agent: '=HYPERLINK("http://evil")', inserted_at: new Date(from + 1), ip: '10.9.9.9' }),
    );
    await pulse.flush();
    dashboard = createDashboard({ db: pulse.db, pubsub: pulse.pubsub, token: TOKEN });
    server = createServer(dashboard.handler);
    base = await listen(server);
  }, 120_000);

  afterAll(async () => {
    await dashboard.close();
    await closeServer(server);
    await pulse.close();
  });

  it(`streams ${ROWS.toLocaleString('en')} rows as CSV from a cursor with flat memory`, async () => {
    gc();
    const baseline = process.memoryUsage().heapUsed;
    let peak = baseline;
    let nextSample = 0;
    const response = await fetch(`${base}/api/export?format=csv&from=${from}&to=${to}`, { headers: auth });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(response.headers.get('content-disposition')).toMatch(/^attachment; filename="pgpulse-2031-03-01T00-00-00-000Z--2031-03-02T00-00-00-000Z\.csv"$/);
    const decoder = new TextDecoder();
    let lines = 0;
    let bytes = 0;
    let head = '';
    const reader = response.body!.getReader();
    for (let read = await reader.read(); !read.done; read = await reader.read()) {
      const chunk = read.value;
      bytes += chunk.byteLength;
      const text = decoder.decode(chunk, { stream: true });
      if (head.length < 4000) head += text;
      for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) lines++;
      if (bytes >= nextSample) {
        // Every 2 MB received: collect, then measure what client and server keep.
        nextSample += 2_000_000;
        gc();
        peak = Math.max(peak, process.memoryUsage().heapUsed);
      }
    }
    const growthMb = (peak - baseline) / 1e6;
    console.log(
      `[export] ${ROWS} rows, ${(bytes / 1e6).toFixed(1)} MB of CSV, peak retained heap growth ${growthMb.toFixed(1)} MB (client and server in this process)`,
    );
    // Header + one line per row + the newline quoted inside the hostile path.
    expect(lines).toBe(ROWS + 2);
    expect(head.split('\r\n')[0]).toBe(
      'id,request_id,method,path,route,status_code,duration_ms,response_bytes,user_agent,referer,device_type,visitor_id,session_id,node_id,inserted_at,referer_host,browser,os,country,trace_id,span_id,attributes,consumer_id,consumer_name,consumer_group,error_fingerprint,error',
    );
    expect(head).toContain(`"/a,""b""\nc"`);
    expect(head).toContain(`"'=HYPERLINK(""http://evil"")"`);
    expect(head).not.toContain('10.0.0.');
    expect(head).not.toContain('10.9.9.9');
    // Loaded whole, the rows would take several times the file size on the heap; streamed, a few fetches' worth.
    expect(bytes).toBeGreaterThan(30e6);
    expect(growthMb).toBeLessThan(16);
  });

  it('exports NDJSON with the same filters as the stats, and ignores unknown parameters', async () => {
    const response = await fetch(`${base}/api/export?format=ndjson&from=${from}&to=${to}&device=mobile&status=5xx&referrer=news.example&_=${Date.now()}`, {
      headers: auth,
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/x-ndjson; charset=utf-8');
    const rows = (await response.text())
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    const expected = await sql<{ n: number }>`select count(*)::int as n from pgpulse.request_logs
      where device_type = 'mobile' and status_code >= 500 and referer like 'https://www.news.example/%'`.execute(pulse.db);
    expect(rows.length).toBe(expected.rows[0]!.n);
    expect(rows.length).toBeGreaterThan(100);
    for (const row of rows) expect(row).toMatchObject({ device_type: 'mobile', status_code: 503, route: '/items/:id' });
    expect(rows[0]).not.toHaveProperty('ip');
    // Every public column of the row list (src/store/columns.ts), the capture columns included.
    expect(Object.keys(rows[0])).toEqual(expect.arrayContaining(['browser', 'os', 'country', 'referer_host', 'trace_id', 'span_id', 'attributes']));
    expect(typeof rows[0].id).toBe('number');
    expect(rows.map((r) => Date.parse(r.inserted_at))).toEqual(rows.map((r) => Date.parse(r.inserted_at)).sort((a, b) => a - b));
  });

  it('rejects a bad format or range with 400, requires the token', async () => {
    expect((await fetch(`${base}/api/export?format=xml&from=${from}`, { headers: auth })).status).toBe(400);
    expect((await fetch(`${base}/api/export?format=csv&from=soon`, { headers: auth })).status).toBe(400);
    expect((await fetch(`${base}/api/export?format=csv&from=${from}`)).status).toBe(401);
  });

  it('a client that goes away mid-export ends the cursor and frees the connection', async () => {
    const controller = new AbortController();
    const response = await fetch(`${base}/api/export?format=csv&from=${from}&to=${to}`, { headers: auth, signal: controller.signal });
    const reader = response.body!.getReader();
    await reader.read();
    controller.abort();
    await eventually(
      async () => {
        const open = await sql<{
          n: number;
        }>`select count(*)::int as n from pg_stat_activity where datname = current_database() and query like 'fetch%pgpulse_export%' and state <> 'idle'`.execute(
          pulse.db,
        );
        return open.rows[0]!.n === 0;
      },
      10_000,
      'export transaction ended',
    );
    // The pool still answers (the export's connection came back).
    const stats = await fetch(`${base}/api/stats?from=${from}&to=${from + 600_000}`, { headers: auth });
    expect(stats.status).toBe(200);
  });

  it('CSV cells: quotes, formulas, dates and nulls', () => {
    expect(csvCell(null)).toBe('');
    expect(csvCell(12.5)).toBe('12.5');
    expect(csvCell('-1')).toBe("'-1");
    expect(csvCell('+x,y')).toBe(`"'+x,y"`);
    expect(csvCell('@a')).toBe("'@a");
    expect(csvCell('plain')).toBe('plain');
    expect(csvCell(new Date(0))).toBe('1970-01-01T00:00:00.000Z');
  });
});
