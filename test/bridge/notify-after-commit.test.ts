// @module-tag server (runs on every CI server: see the tag in vitest.config.ts)
import { afterAll, describe, expect, it } from 'vitest';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import { createListener, type Listener } from '../../src/listen/index.js';
import type { StoredRequestLog } from '../../src/schema/request-log.js';
import { eventually, makeLog } from '../support/fixtures.js';
import { test } from '../support/migrated-database.js';

/** The normal path: queue empty, notifications on, rows arrive by notification (not by catch-up). */
describe('NOTIFY after commit, normal path', () => {
  let pulse: Pulse;
  let listener: Listener;
  const delivered: StoredRequestLog[] = [];
  const deliveredAt = new Map<string, number>();

  test.beforeAll(async ({ database }) => {
    pulse = createPulse({ connectionString: database.url, nodeId: 'normal', notify: true, maxWaitMs: 1 });
    // No periodic catch-up during the test: whatever arrives came by notification.
    listener = createListener({ connectionString: database.url, heartbeatIntervalMs: 600_000 });
    listener.pubsub.subscribe(
      ({ event }) => {
        delivered.push(event as StoredRequestLog);
        deliveredAt.set(event.request_id, Date.now());
      },
      { maxQueue: Number.MAX_SAFE_INTEGER },
    );
    await listener.start();
  });

  afterAll(async () => {
    await listener?.close();
    await pulse?.close();
  });

  it('notifies each committed batch once, after the commit, and the listener gets every row from it', async () => {
    const lags: number[] = [];
    for (let i = 0; i < 10; i++) {
      const log = makeLog({ path: `/normal/${i}` });
      pulse.pubsub.broadcast(log);
      await pulse.flush();
      const committed = Date.now();
      await eventually(() => deliveredAt.has(log.request_id), 10_000, 'row delivered');
      lags.push(deliveredAt.get(log.request_id)! - committed);
    }
    // A batch too large to go inline travels as id ranges; the rows are committed when the listener fetches them.
    for (let i = 0; i < 300; i++) pulse.pubsub.broadcast(makeLog({ path: `/normal/big/${i}`, user_agent: 'x'.repeat(200) }));
    await pulse.flush();
    await eventually(() => delivered.length === 310 && listener.stats.queued === 0, 10_000, '310 rows delivered');

    const w = pulse.writer!.stats;
    expect(w.notifications).toBe(w.batches);
    expect(w.notificationsSkipped + w.notificationsFailed).toBe(0);
    expect(w.notifyQueueUsage).toBeGreaterThanOrEqual(0);
    expect(w.notifyQueueUsage).toBeLessThan(0.01);
    const l = listener.stats;
    expect(l.caughtUp).toBe(0);
    expect(l.fetched).toBeGreaterThan(0);
    expect(l.missing).toBe(0);
    expect(new Set(delivered.map((r) => r.id)).size).toBe(310);
    lags.sort((a, b) => a - b);
    console.log(`[normal path] commit→deliver by notification: median ${lags[lags.length >> 1]} ms, max ${lags.at(-1)} ms`);
  });

  test('rejects invalid notify options with a clear error', ({ database }) => {
    expect(() => createPulse({ connectionString: database.url, notify: { maxQueueUsage: 0 } })).toThrow(/notify.maxQueueUsage must be in \(0, 1\], got 0/);
    expect(() => createPulse({ connectionString: database.url, notify: { pauseMs: -1 } })).toThrow(/notify.pauseMs must be zero or more, got -1/);
    expect(() => createPulse({ connectionString: database.url, notify: { channel: '' } })).toThrow(/notify.channel must be 1-63 characters/);
  });
});
