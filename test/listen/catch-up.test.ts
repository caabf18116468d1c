import { describe, expect } from 'vitest';
import { CatchUp } from '../../src/listen/catch-up.js';
import { newListenerCounters } from '../../src/listen/listener-events.js';
import { parseSnapshot, type Snapshot } from '../../src/store/snapshot.js';
import { PubSub } from '../../src/pubsub.js';
import { test } from '../support/migrated-database.js';

describe('listener catch-up', () => {
  test('never moves the watermark back to an older snapshot with the same xmax (a row caught up once is not delivered again)', async ({ database }) => {
    const inserted = await database.pool.query<{ tx: string }>(
      `insert into pgpulse.request_logs (request_id, method, path, status_code, duration_ms, device_type, node_id)
       values ('catch-up-1', 'GET', '/catch-up', 200, 1, 'bot', 'n1') returning tx_id::text as tx`,
    );
    const tx = inserted.rows[0]!.tx;
    // After the commit: the row's transaction is visible.
    const now = parseSnapshot((await database.pool.query<{ s: string }>('select pg_current_snapshot()::text as s')).rows[0]!.s);
    // The same moment seen earlier, while that transaction was still in progress:
    // same xmax, the transaction in the in-progress list (as when no xid was assigned in between).
    const before = parseSnapshot(`${tx}:${now.xmax}:${tx}`);
    const snapshots: Snapshot[] = [before, before, now, now, now];
    const pubsub = new PubSub();
    const delivered: string[] = [];
    pubsub.subscribe((m) => void delivered.push(m.event.request_id));
    const catchUp = new CatchUp({
      db: database.db,
      pubsub,
      counters: newListenerCounters(),
      nodeId: undefined,
      catchUpPageSize: 100,
      maxTrackedRows: 1_000,
      signal: new AbortController().signal,
      snapshot: () => Promise.resolve(snapshots.shift()!),
      retrying: (_phase, query) => query(),
      onTrackedOverflow: () => undefined,
      onAdvance: () => undefined,
    });
    await catchUp.begin(); // watermark: before
    await catchUp.run('periodic'); // remembers `before` for the next periodic catch-up
    await catchUp.run('reconnect'); // delivers the row, watermark: now
    await catchUp.run('periodic'); // covers `before`: must not make it the watermark again
    await catchUp.run('periodic'); // covers `now`
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(delivered).toEqual(['catch-up-1']);
    expect(snapshots).toEqual([]);
  });
});
