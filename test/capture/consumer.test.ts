import { createServer } from 'node:http';
import { describe, expect } from 'vitest';
import { normalizeConsumer, type ConsumerInput } from '../../src/capture/consumer.js';
import { createPulse } from '../../src/create-pulse.js';
import type { PulseEvents } from '../../src/events/pulse-events.js';
import { closeServer, listen, send } from '../support/http.js';
import { test } from '../support/migrated-database.js';

const none = { consumer_id: null, consumer_name: null, consumer_group: null };

describe('consumers (the consumer option)', () => {
  test('validates and bounds what the function returns', () => {
    const drops: string[] = [];
    const norm = (input: unknown) => normalizeConsumer(input, (reason, detail) => drops.push(`${reason}: ${detail}`));
    expect(norm('key-1')).toEqual({ consumer_id: 'key-1', consumer_name: null, consumer_group: null });
    expect(norm(42)).toEqual({ consumer_id: '42', consumer_name: null, consumer_group: null });
    expect(norm({ id: ' t-9 ', name: ' Acme ', group: '' })).toEqual({ consumer_id: 't-9', consumer_name: 'Acme', consumer_group: null });
    expect(norm({ id: 'x', name: null, group: 'pro' })).toEqual({ consumer_id: 'x', consumer_name: null, consumer_group: 'pro' });
    expect(norm(undefined)).toEqual(none);
    expect(norm('')).toEqual(none);
    expect(drops).toEqual([]);
    for (const bad of [
      'x'.repeat(129),
      '   ',
      'a\u0000b',
      '\uD800',
      1.5,
      Number.NaN,
      { id: 'x', name: 'n'.repeat(257) },
      { id: 'x', extra: 1 },
      ['x'],
      { name: 'no id' },
      true,
    ])
      expect(norm(bad), JSON.stringify(bad)).toEqual(none);
    expect(drops).toHaveLength(11);
    expect(drops.every((d) => d.startsWith('invalid: '))).toBe(true);
  });

  test('stores the consumer per row; a throwing or invalid function is counted, reported once a minute, and never fails the request', async ({ database }) => {
    const answers: Record<string, () => ConsumerInput> = {
      ok: () => ({ id: 'acme', name: 'Acme Inc.', group: 'enterprise' }),
      throws: () => {
        throw new Error('no key');
      },
      invalid: () => 'x'.repeat(500),
    };
    const pulse = createPulse({
      connectionString: database.url,
      nodeId: 'consumers',
      maintenanceIntervalMs: 0,
      consumer: (req) => answers[String(req.headers['x-case'])]?.(),
    });
    const dropped: PulseEvents['consumerDropped'][0][] = [];
    pulse.on('consumerDropped', (info) => dropped.push(info));
    const server = createServer(pulse.wrap((_req, res) => res.end('ok')));
    try {
      const base = await listen(server);
      for (const [i, name] of ['ok', 'throws', 'throws', 'invalid', 'none'].entries())
        expect((await send(`${base}/`, { headers: { 'x-case': name, 'x-request-id': `${name}-${i}` } })).status).toBe(200);
      await pulse.flush();
      const rows = await pulse.db.selectFrom('pgpulse.request_logs').select(['request_id', 'consumer_id', 'consumer_name', 'consumer_group']).execute();
      const byId = Object.fromEntries(rows.map(({ request_id, ...rest }) => [request_id, rest]));
      expect(byId['ok-0']).toEqual({ consumer_id: 'acme', consumer_name: 'Acme Inc.', consumer_group: 'enterprise' });
      for (const id of ['throws-1', 'throws-2', 'invalid-3', 'none-4']) expect(byId[id], id).toEqual(none);
      expect(pulse.stats.consumersDropped).toEqual({ threw: 2, invalid: 1 });
      expect(dropped.map((d) => [d.reason, d.count])).toEqual([
        ['threw', 1],
        ['invalid', 1],
      ]);
      expect(dropped[0]!.error?.message).toBe('no key');
      expect(await pulse.metrics()).toMatch(/^pgpulse_consumers_dropped_total\{reason="threw"\} 2$/m);
    } finally {
      await closeServer(server);
      await pulse.close();
    }
  });
});
