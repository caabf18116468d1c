import { createServer, type Server } from 'node:http';
import express from 'express';
import { afterAll, describe, expect, it } from 'vitest';
import type { AttributesInput } from '../../src/capture/attributes.js';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import type { PulseEvents } from '../../src/events/pulse-events.js';
import { closeServer, listen, send } from '../support/http.js';
import { Scrape } from '../support/prometheus.js';
import { test } from '../support/migrated-database.js';

/** What the app's `attributes` function returns, by the `x-case` header of the request. */
const cases: Record<string, () => AttributesInput> = {
  ok: () => ({ plan: 'pro', seats: 3, trial: false, 'api.version': 'v2', missing: undefined, nothing: null }),
  throws: () => {
    throw new Error('no plan for this request');
  },
  array: () => ['pro'] as unknown as AttributesInput,
  'bad-key': () => ({ plan: 'pro', '1st': 'x', 'has space': 'y' }),
  'bad-value': () => ({ plan: 'pro', nested: { a: 1 } as unknown as string, long: 'x'.repeat(257), nan: Number.NaN, nul: 'a\u0000b' }),
  'too-many': () => Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, i])),
  'too-large': () => Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`k${i}`, 'x'.repeat(250)])),
};

describe('custom attributes (the attributes option)', () => {
  let pulse: Pulse;
  let server: Server;
  let base: string;
  const dropped: PulseEvents['attributesDropped'][0][] = [];

  test.beforeAll(async ({ database }) => {
    pulse = createPulse({
      connectionString: database.url,
      nodeId: 'attributes-node',
      maintenanceIntervalMs: 0,
      // Reads what the handler set on res.locals: called after the response finished.
      attributes: (_req, res) => cases[(res as express.Response).locals.case as string]?.(),
    });
    pulse.on('attributesDropped', (info) => dropped.push(info));
    const app = express();
    app.use(pulse.middleware());
    app.get('/work', (req, res) => {
      res.locals.case = req.headers['x-case'];
      res.send('done');
    });
    server = createServer(app);
    base = await listen(server);
  });

  afterAll(async () => {
    await closeServer(server);
    await pulse.close();
  });

  const attributesOf = async (requestId: string) => {
    await pulse.flush();
    const row = await pulse.db.selectFrom('pgpulse.request_logs').select('attributes').where('request_id', '=', requestId).executeTakeFirstOrThrow();
    return row.attributes;
  };
  const request = async (name: string, id = name) => {
    const response = await send(`${base}/work`, { headers: { 'x-case': name, 'x-request-id': id } });
    expect(response.status, 'the request never fails').toBe(200);
  };

  it('stores a valid flat object as jsonb, leaving out undefined and null values', async () => {
    await request('ok');
    expect(await attributesOf('ok')).toEqual({ plan: 'pro', seats: 3, trial: false, 'api.version': 'v2' });
  });

  it('drops what fails validation, keeps the rest, counts it by reason and reports it (at most once a minute per reason)', async () => {
    for (const name of ['throws', 'array', 'bad-key', 'bad-value', 'too-many', 'too-large']) await request(name);
    await request('throws', 'throws-again');
    expect(await attributesOf('throws')).toBeNull();
    expect(await attributesOf('throws-again')).toBeNull();
    expect(await attributesOf('array')).toBeNull();
    expect(await attributesOf('bad-key')).toEqual({ plan: 'pro' });
    expect(await attributesOf('bad-value')).toEqual({ plan: 'pro' });
    expect(await attributesOf('too-many')).toEqual(Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`k${i}`, i])));
    expect(await attributesOf('too-large')).toBeNull();
    expect(pulse.stats.attributesDropped).toEqual({ threw: 2, not_object: 1, invalid_key: 1, invalid_value: 1, too_many_keys: 1, too_large: 1 });
    expect(dropped.map((d) => d.reason)).toEqual(['threw', 'not_object', 'invalid_key', 'invalid_value', 'too_many_keys', 'too_large']);
    expect(dropped[0]).toMatchObject({
      reason: 'threw',
      count: 1,
      detail: 'no plan for this request',
      error: expect.objectContaining({ message: 'no plan for this request' }),
    });
    expect(dropped.find((d) => d.reason === 'invalid_key')).toMatchObject({ detail: '1st' });
    expect(dropped.find((d) => d.reason === 'too_large')?.detail).toMatch(/^\d+ bytes$/);
    expect(pulse.stats.captureFailures).toBe(0);
    const scrape = new Scrape(await pulse.metrics());
    expect(scrape.value('pgpulse_attributes_dropped_total', { reason: 'threw' })).toBe(2);
    expect(scrape.value('pgpulse_attributes_dropped_total', { reason: 'too_large' })).toBe(1);
  });

  test('refuses an attributes option that is not a function at createPulse', ({ database }) => {
    expect(() => createPulse({ connectionString: database.url, attributes: 'plan' as never })).toThrow(
      /invalid capture options: attributes: must be a function/,
    );
  });
});
