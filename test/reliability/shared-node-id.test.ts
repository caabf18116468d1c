// @module-tag server (runs on every CI server: see the tag in vitest.config.ts)
import { expect } from 'vitest';
import { createPulse } from '../../src/create-pulse.js';
import { createListener } from '../../src/listen/index.js';
import type { StoredRequestLog } from '../../src/schema/request-log.js';
import { queryStats } from '../../src/stats/query-stats.js';
import { parseStatsParams } from '../../src/stats/stats-params.js';
import { expectExact } from '../support/exact-stats.js';
import { eventually, makeLog } from '../support/fixtures.js';
import { test } from '../support/migrated-database.js';

/**
 * README, Node ids: two processes running at the same time with the same id
 * (two containers given the same PGPULSE_NODE_ID) lose nothing and skip
 * nothing; they only show as one node.
 */
test('two pulses with one node id, writing at once: every row stored, delivered once by a listener, counted once by the rollups', async ({ database }) => {
  const listener = createListener({ connectionString: database.url, heartbeatIntervalMs: 200 });
  const delivered: StoredRequestLog[] = [];
  listener.pubsub.subscribe((message) => void delivered.push(message.event as StoredRequestLog), { maxQueue: Number.MAX_SAFE_INTEGER });
  await listener.start();
  const pulses = ['a', 'b'].map(() =>
    createPulse({ connectionString: database.url, nodeId: 'web', notify: true, maxWaitMs: 5, maxRows: 50, cubeIntervalMs: 0 }),
  );
  try {
    const since = Date.now() - 1_000;
    // Interleaved, in many small batches, so the two writers commit side by side.
    for (let i = 0; i < 600; i++)
      for (const [n, pulse] of pulses.entries())
        pulse.pubsub.publish(makeLog({ path: `/p${n}/${i}`, route: `/p${n}/:i`, request_id: `r${n}-${i}`, node_id: pulse.nodeId }));
    await Promise.all(pulses.map((pulse) => pulse.flush()));
    const stored = await database.pool.query<{ id: string; node_id: string }>('select id, node_id from pgpulse.request_logs order by id');
    expect(stored.rows.length).toBe(1_200);
    expect(new Set(stored.rows.map((r) => r.node_id))).toEqual(new Set(['web']));
    await eventually(() => delivered.length >= 1_200, 30_000, 'the listener to deliver every row');
    const ids = delivered.map((r) => r.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort((x, y) => x - y)).toEqual(stored.rows.map((r) => Number(r.id)));
    // Rollups (claimed per transaction, not per node) agree with the raw rows.
    const parsed = parseStatsParams(new URLSearchParams({ from: String(since), to: String(Date.now() + 60_000), tz: 'UTC' }));
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
    const stats = await queryStats(database.db, parsed.params);
    expect(stats.totals.requests).toBe(1_200);
    expect(stats.nodes?.map((n) => n.key)).toEqual(['web']);
    await expectExact(database.db, parsed.params, stats);
  } finally {
    await Promise.all(pulses.map((pulse) => pulse.close()));
    await listener.close();
  }
});
