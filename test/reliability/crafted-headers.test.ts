import { createServer, type IncomingHttpHeaders } from 'node:http';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { deriveLog } from '../../src/capture/derive-log.js';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import { createMigratedTestDatabase, type TestDatabase } from '../support/database.js';
import { closeServer, listen, send } from '../support/http.js';
import { deriveContext } from '../support/derive-context.js';

/** What the parsers were handed: capture must only ever give them a bounded input, whatever the headers. */
const seen = vi.hoisted(() => ({ bowser: 0, isbot: 0, forwardedHops: 0, calls: 0 }));

vi.mock('bowser', async (importOriginal) => {
  const original = (await importOriginal<{ default: typeof import('bowser') }>()).default;
  const getParser = (ua: string, skip?: boolean) => {
    seen.bowser = Math.max(seen.bowser, ua.length);
    seen.calls++;
    return original.getParser(ua, skip);
  };
  const parse = (ua: string) => {
    seen.bowser = Math.max(seen.bowser, ua.length);
    seen.calls++;
    return original.parse(ua);
  };
  return { default: { ...original, getParser, parse } };
});
vi.mock('isbot', async (importOriginal) => {
  const original = await importOriginal<typeof import('isbot')>();
  return {
    ...original,
    isbot: (ua: string) => {
      seen.isbot = Math.max(seen.isbot, ua.length);
      return original.isbot(ua);
    },
  };
});
vi.mock('proxy-addr', async (importOriginal) => {
  const original = (await importOriginal<{ default: typeof import('proxy-addr') }>()).default;
  const wrapped = Object.assign((req: { headers: IncomingHttpHeaders }, trust: Parameters<typeof original>[1]) => {
    seen.forwardedHops = Math.max(seen.forwardedHops, String(req.headers['x-forwarded-for'] ?? '').split(',').length);
    return original(req as never, trust);
  }, original);
  return { default: wrapped };
});

const CHROME = (i: number) => `Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.${i}.0 Safari/537.36`;

/** Header shapes an attacker controls, each distinct per request (so no memo helps), up to 60 KB. */
const crafted: Record<string, (i: number) => IncomingHttpHeaders> = {
  'user-agent "Mozilla/5.0 (" x1200 (15 KB)': (i) => ({ 'user-agent': `${i}${'Mozilla/5.0 ('.repeat(1_200)}` }),
  'user-agent 60 KB of "a"': (i) => ({ 'user-agent': `${i}${'a'.repeat(60_000)}` }),
  'user-agent 512 chars of "Mozilla/5.0 ("': (i) => ({ 'user-agent': `${i}${'Mozilla/5.0 ('.repeat(40)}`.slice(0, 512) }),
  'referer 30 KB host': (i) => ({ 'user-agent': CHROME(1), referer: `http://${i}${'a.'.repeat(15_000)}/` }),
  'x-forwarded-for 4,000 hops': (i) => ({ 'user-agent': CHROME(1), 'x-forwarded-for': `${'10.0.0.1,'.repeat(4_000)}10.1.${i % 250}.1` }),
  'traceparent 30 KB': (i) => ({ 'user-agent': CHROME(1), traceparent: `00-${i}${'a'.repeat(30_000)}` }),
  'x-request-id 30 KB': (i) => ({ 'user-agent': CHROME(1), 'x-request-id': `${i}${'r'.repeat(30_000)}` }),
  'cookie + accept-language 30 KB': (i) => ({ 'user-agent': CHROME(1), cookie: `a=${i}${'c'.repeat(30_000)}`, 'accept-language': 'en;q=0.9,'.repeat(3_000) }),
};

describe('crafted headers cost what a normal request costs', () => {
  let database: TestDatabase;
  let pulse: Pulse;

  beforeAll(async () => {
    database = await createMigratedTestDatabase();
    // Every proxy trusted, so X-Forwarded-For is walked as far as pgpulse ever walks it.
    pulse = createPulse({ connectionString: database.url, maxWaitMs: 20, trustProxy: true, storeIp: true });
    await pulse.migrate();
  });
  afterAll(async () => {
    await pulse?.close();
    await database?.drop();
  });

  it('over real HTTP, the parsers only ever see bounded input, and every request is recorded', async () => {
    // An app that raised Node's 16 KB header limit, so the crafted headers reach pgpulse.
    const server = createServer(
      { maxHeaderSize: 256 * 1024 },
      pulse.wrap((_req, res) => res.end('ok')),
    );
    const base = await listen(server);
    try {
      let sent = 0;
      for (const [name, headers] of Object.entries(crafted))
        for (let i = 0; i < 5; i++, sent++)
          expect((await send(`${base}/crafted/${sent}`, { headers: headers(i) as Record<string, string> })).status, name).toBe(200);
      await pulse.flush();
      const rows = await pulse.db.selectFrom('pgpulse.request_logs').select(['path', 'user_agent', 'ip']).where('path', 'like', '/crafted/%').execute();
      expect(rows).toHaveLength(sent);
      expect(pulse.stats.captureFailures).toBe(0);
    } finally {
      await closeServer(server);
    }
    console.log(`[crafted-headers] longest input: bowser ${seen.bowser}, isbot ${seen.isbot} characters; X-Forwarded-For hops walked: ${seen.forwardedHops}`);
    expect(seen.calls).toBeGreaterThan(0);
    expect(seen.bowser).toBeLessThanOrEqual(512);
    expect(seen.isbot).toBeLessThanOrEqual(512);
    expect(seen.forwardedHops).toBeLessThanOrEqual(32);
  });

  it('CPU per request of the capture batch (deriveLog), crafted shapes against a normal request: printed, not asserted', () => {
    const context = deriveContext({ trustProxy: true, storeIp: true });
    const request = (headers: IncomingHttpHeaders) => ({
      method: 'GET',
      url: '/orders/42?x=1',
      route: '/orders/:id',
      statusCode: 200,
      startMs: 0,
      durationMs: 1,
      responseBytes: 2,
      headers: { accept: 'text/html', 'accept-language': 'en-US,en;q=0.9', ...headers },
      remoteAddress: '127.0.0.1',
    });
    const N = 300;
    let offset = 0;
    // Flat strings, as Node's HTTP parser gives them (a concatenated test string would be flattened on first use, inside the measurement).
    const flat = (headers: IncomingHttpHeaders) =>
      Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, Buffer.from(String(v)).toString()])) as IncomingHttpHeaders;
    /** Best of three runs of N distinct requests, in µs of CPU per request. */
    const microseconds = (make: (i: number) => IncomingHttpHeaders) => {
      let best = Number.POSITIVE_INFINITY;
      for (let run = 0; run < 3; run++) {
        const requests = Array.from({ length: N }, () => request(flat(make(offset++))));
        const before = process.cpuUsage();
        for (const r of requests) deriveLog(r, context, Date.now());
        const used = process.cpuUsage(before);
        best = Math.min(best, (used.user + used.system) / N);
      }
      return best;
    };
    // Warm-up: every code path compiled before anything is measured.
    for (const make of Object.values(crafted)) microseconds(make);
    // Normal: a browser user agent, new to the process each time (a new visitor: the parser runs), and one seen before.
    const normalNew = microseconds((i) => ({ 'user-agent': CHROME(i), referer: 'https://www.google.com/' }));
    const normalSeen = microseconds(() => ({ 'user-agent': CHROME(1), referer: 'https://www.google.com/' }));
    const lines = [`normal request, new user agent: ${normalNew.toFixed(1)} µs`, `normal request, known user agent: ${normalSeen.toFixed(1)} µs`];
    for (const [name, make] of Object.entries(crafted)) {
      const cost = microseconds(make);
      lines.push(`${name}: ${cost.toFixed(1)} µs (${(cost / normalNew).toFixed(2)}x a normal new-visitor request)`);
    }
    console.log(`[crafted-headers] capture CPU per request (deriveLog, best of 3 runs of ${N} distinct requests):\n  ${lines.join('\n  ')}`);
  });
});
