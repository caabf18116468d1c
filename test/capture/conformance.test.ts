import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import { createMigratedTestDatabase, type TestDatabase } from '../support/database.js';
import { adapterNames, startApp, type AdapterName, type RunningApp } from '../support/four-apps.js';
import { abortAfter, send } from '../support/http.js';

const CHROME = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';
const LARGE_UA = `Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 ${'x'.repeat(8_000)}`;

interface Scenario {
  id: string;
  /** The request id stored, when redaction changes the one sent (`id`). */
  storedId?: string;
  method?: string;
  path: string;
  headers?: Record<string, string>;
  /** The row every adapter must store; `route` is what a router gives (bare node:http has none: null). */
  row: {
    method: string;
    path: string;
    status_code: number;
    response_bytes: string | null;
    route: string | null;
    user_agent?: string;
    referer?: string | null;
    trace_id?: string | null;
    span_id?: string | null;
    attributes?: Record<string, unknown> | null;
    consumer_id?: string | null;
    consumer_name?: string | null;
    consumer_group?: string | null;
    error_fingerprint?: unknown;
    error?: unknown;
  };
}

const scenarios: Scenario[] = [
  {
    id: 'ok',
    path: '/users/42?tab=1',
    headers: { referer: 'https://Ref.Example/page?q=secret#frag' },
    row: { method: 'GET', path: '/users/42', status_code: 200, response_bytes: '5', route: '/users/:id', referer: 'https://Ref.Example/page' },
  },
  { id: 'stream', path: '/stream', row: { method: 'GET', path: '/stream', status_code: 200, response_bytes: '7', route: '/stream' } },
  { id: 'missing', path: '/nope', row: { method: 'GET', path: '/nope', status_code: 404, response_bytes: '9', route: null } },
  {
    id: 'error',
    path: '/boom',
    row: {
      method: 'GET',
      path: '/boom',
      status_code: 500,
      response_bytes: '5',
      route: '/boom',
      // Each framework calls the handler from its own frames: the class, message and top frame agree, the fingerprints need not.
      error_fingerprint: expect.stringMatching(/^[0-9a-f]{16}$/),
      error: { class: 'Error', message: 'boom', frames: expect.arrayContaining([expect.stringContaining('four-apps.ts')]) },
    },
  },
  {
    id: 'consumer',
    path: '/users/11',
    headers: { 'x-consumer': 'acme-key-1' },
    row: {
      method: 'GET',
      path: '/users/11',
      status_code: 200,
      response_bytes: '5',
      route: '/users/:id',
      consumer_id: 'acme-key-1',
      consumer_name: 'Acme Inc.',
      consumer_group: 'pro',
      error_fingerprint: null,
      error: null,
    },
  },
  { id: 'head', method: 'HEAD', path: '/users/7', row: { method: 'HEAD', path: '/users/7', status_code: 200, response_bytes: '0', route: '/users/:id' } },
  { id: 'redirect', path: '/old', row: { method: 'GET', path: '/old', status_code: 302, response_bytes: '0', route: '/old' } },
  {
    id: 'large-header',
    path: '/users/8',
    headers: { 'user-agent': LARGE_UA, 'x-padding': 'p'.repeat(4_000) },
    row: { method: 'GET', path: '/users/8', status_code: 200, response_bytes: '5', route: '/users/:id', user_agent: LARGE_UA },
  },
  {
    id: 'traced',
    path: '/users/9',
    headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', 'x-plan': 'pro' },
    row: {
      method: 'GET',
      path: '/users/9',
      status_code: 200,
      response_bytes: '5',
      route: '/users/:id',
      trace_id: '4bf92f3577b34da6a3ce929d0e0e4736',
      span_id: '00f067aa0ba902b7',
      // Set by the `attributes` option, read after the response finished.
      attributes: { plan: 'pro', status: 200, error: false },
    },
  },
  {
    // The README's redaction example: a token in the path, a secret in the referer's path, a session id in the
    // user agent and the request id, an e-mail in the attributes. Only masked values may reach the row.
    id: 'redacted-secret-1',
    storedId: 'redacted-[redacted]',
    path: '/reset/tok-secret-123?next=%2F',
    headers: {
      referer: 'https://app.example/invite/inv-secret-456?q=1',
      'user-agent': `${CHROME} sid=ua-secret-789`,
      'x-plan': 'pro',
      'x-email': 'jane@example.com',
    },
    row: {
      method: 'GET',
      path: '/reset/[redacted]',
      status_code: 404,
      response_bytes: '9',
      route: null,
      referer: 'https://app.example/invite/[redacted]',
      user_agent: `${CHROME} sid=[redacted]`,
      attributes: { plan: 'pro', status: 404, error: false, email: '[redacted]' },
    },
  },
  {
    id: 'bad-traceparent',
    path: '/users/10',
    headers: { traceparent: '00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01' },
    row: { method: 'GET', path: '/users/10', status_code: 200, response_bytes: '5', route: '/users/:id', trace_id: null, span_id: null },
  },
];

const COMPARED = [
  'method',
  'path',
  'status_code',
  'response_bytes',
  'user_agent',
  'referer',
  'device_type',
  'visitor_id',
  'request_id',
  'ip',
  'trace_id',
  'span_id',
  'attributes',
  'consumer_id',
  'consumer_name',
  'consumer_group',
] as const;

async function waitFor<T>(read: () => Promise<T>, done: (value: T) => boolean, what: string): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    const value = await read();
    if (done(value)) return value;
    if (attempt > 400) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/** One set of scenarios against node:http, Express, Fastify and Hono: every adapter must store the same row. */
describe('conformance: the same request gives the same row in every adapter', () => {
  let database: TestDatabase;
  const pulses = new Map<AdapterName, Pulse>();
  const apps = new Map<AdapterName, RunningApp>();
  /** How long the sending phase took: no request's duration can exceed it. */
  let sendingMs = 0;

  beforeAll(async () => {
    database = await createMigratedTestDatabase();
    for (const name of adapterNames) {
      const pulse = createPulse({
        connectionString: database.url,
        nodeId: name,
        storeIp: true,
        maintenanceIntervalMs: 0,
        attributes: (req, res) =>
          req.headers['x-plan']
            ? { plan: String(req.headers['x-plan']), status: res.statusCode, error: res.statusCode >= 500, email: req.headers['x-email'] as string }
            : undefined,
        redact: {
          paths: ['/reset/:token', '/invite/:secret'],
          fields: ['attributes.email'],
          fn: (fields) => ({
            user_agent: fields.user_agent?.replace(/sid=\S+/, 'sid=[redacted]') ?? null,
            request_id: fields.request_id.replace(/-secret-\d+$/, '-[redacted]'),
          }),
        },
        consumer: (req) => (req.headers['x-consumer'] ? { id: String(req.headers['x-consumer']), name: 'Acme Inc.', group: 'pro' } : undefined),
      });
      await pulse.migrate();
      pulses.set(name, pulse);
      apps.set(name, await startApp(name, pulse));
    }
    const sendingStarted = performance.now();
    for (const name of adapterNames) {
      const app = apps.get(name)!;
      for (const scenario of scenarios) {
        const headers = { 'user-agent': CHROME, 'x-request-id': scenario.id, ...scenario.headers };
        await send(app.base + scenario.path, { method: scenario.method, headers });
      }
      await abortAfter(`${app.base}/slow`, app.slowStarted(), { 'user-agent': CHROME, 'x-request-id': 'abort' });
      // Ignored: a static asset and a CORS preflight.
      await send(`${app.base}/style.css`, { headers: { 'user-agent': CHROME, 'x-request-id': 'ignored-asset' } });
      await send(`${app.base}/users/1`, {
        method: 'OPTIONS',
        headers: { 'user-agent': CHROME, 'x-request-id': 'ignored-preflight', origin: 'https://a.example', 'access-control-request-method': 'POST' },
      });
    }
    sendingMs = Math.ceil(performance.now() - sendingStarted);
  }, 60_000);

  afterAll(async () => {
    for (const app of apps.values()) await app.close();
    for (const pulse of pulses.values()) await pulse.close();
    await database.drop();
  });

  async function rows() {
    for (const pulse of pulses.values()) await pulse.flush();
    return pulses.get('node:http')!.db.selectFrom('pgpulse.request_logs').selectAll().orderBy('id').execute();
  }

  it('stores each scenario once per adapter, and nothing for ignored requests', async () => {
    const all = await waitFor(rows, (r) => r.length >= adapterNames.length * (scenarios.length + 1), 'all rows');
    expect(all).toHaveLength(adapterNames.length * (scenarios.length + 1));
    expect(all.filter((r) => r.request_id.startsWith('ignored'))).toEqual([]);
    for (const name of adapterNames)
      expect(
        all
          .filter((r) => r.node_id === name)
          .map((r) => r.request_id)
          .sort(),
      ).toEqual([...scenarios.map((s) => s.storedId ?? s.id), 'abort'].sort());
    // What redaction masked is in no row of any adapter.
    expect(JSON.stringify(all)).not.toMatch(/tok-secret|inv-secret|ua-secret|-secret-1|jane@/);
    for (const pulse of pulses.values()) expect(pulse.stats.redactionsFailed).toEqual({ threw: 0, invalid: 0 });
  });

  it.each(scenarios.map((s) => [s.id, s] as const))('%s: identical rows, as expected', async (_id, scenario) => {
    const all = await rows();
    const byAdapter = adapterNames.map((name) => all.find((r) => r.node_id === name && r.request_id === (scenario.storedId ?? scenario.id))!);
    const { route, ...expected } = scenario.row;
    for (const [i, row] of byAdapter.entries()) {
      const name = adapterNames[i]!;
      expect(row, name).toMatchObject({ ...expected, user_agent: expected.user_agent ?? CHROME, ip: '127.0.0.1' });
      expect(row.route, `${name} route`).toBe(name === 'node:http' ? null : route);
      expect(row.duration_ms, `${name} duration`).toBeGreaterThanOrEqual(0);
      expect(row.duration_ms, `${name} duration within the sending phase`).toBeLessThanOrEqual(sendingMs);
    }
    const reference = byAdapter[0]!;
    for (const row of byAdapter.slice(1)) {
      for (const field of COMPARED) expect({ node: row.node_id, field, value: row[field] }).toEqual({ node: row.node_id, field, value: reference[field] });
    }
  });

  it('client abort: 499 with no body in every adapter', async () => {
    const all = await rows();
    for (const name of adapterNames) {
      const row = all.find((r) => r.node_id === name && r.request_id === 'abort');
      expect(row, name).toMatchObject({ method: 'GET', path: '/slow', status_code: 499, response_bytes: '0', route: name === 'node:http' ? null : '/slow' });
    }
  });
});
