import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import type { AlertRule } from '../../src/alerts/alert-rules.js';
import type { AlertEvent } from '../../src/alerts/alert-store.js';
import type { RequestLog } from '../../src/schema/request-log.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { eventually, makeLog } from '../support/fixtures.js';

/**
 * Each rule kind against real stored rows (each test on a database of its
 * own: overall rules see every row). Time is steered through `inserted_at`:
 * rows placed inside or outside the window, so no test waits for a window to
 * pass except the error-group one, which polls.
 */
describe('alert evaluation', () => {
  let database: TestDatabase;
  let sql: pg.Pool;
  const pulses: Pulse[] = [];

  beforeEach(async () => {
    database = await createTestDatabase();
    sql = new pg.Pool({ connectionString: database.url, max: 2 });
  });

  afterEach(async () => {
    await Promise.all(pulses.splice(0).map((p) => p.close()));
    await sql.end();
    await database.drop();
  });

  /** A migrated pulse with `rules`, evaluated by hand (the interval is long), and the events it emits. */
  async function start(rules: AlertRule[]): Promise<{ pulse: Pulse; events: AlertEvent[] }> {
    const pulse = createPulse({ connectionString: database.url, alerts: rules, alertIntervalMs: 3_600_000, maxWaitMs: 5, cubeIntervalMs: 0 });
    pulses.push(pulse);
    const events: AlertEvent[] = [];
    pulse.on('alert', (event) => events.push(event));
    pulse.on('alertError', ({ error }) => {
      throw error;
    });
    await pulse.migrate();
    await pulse.alerts!.evaluate();
    return { pulse, events };
  }

  async function store(pulse: Pulse, count: number, overrides: Partial<RequestLog> | ((i: number) => Partial<RequestLog>)): Promise<void> {
    for (let i = 0; i < count; i++) pulse.pubsub.publish(makeLog(typeof overrides === 'function' ? overrides(i) : overrides));
    await pulse.flush();
  }

  const ago = (ms: number) => new Date(Date.now() - ms);
  const transitions = (events: AlertEvent[]) => events.map((e) => `${e.rule}/${e.subject}:${e.state}`);

  it('fires an error-rate rule once above the threshold and resolves it below the hysteresis margin', async () => {
    const { pulse, events } = await start([{ kind: 'errorRate', name: 'errors', threshold: 0.5, windowMs: 60_000, minRequests: 20 }]);
    await store(pulse, 10, { status_code: 500 });
    await pulse.alerts!.evaluate();
    expect(events).toEqual([]); // 10 requests: under minRequests
    await store(pulse, 20, { status_code: 503 });
    await pulse.alerts!.evaluate();
    await pulse.alerts!.evaluate();
    expect(transitions(events)).toEqual(['errors/:firing']);
    expect(events[0]).toMatchObject({ kind: 'errorRate', value: 1, threshold: 0.5, requests: 30, detail: { errors: 30, windowMs: 60_000 } });
    // 30 of 60 = 0.5: not above the threshold, but not 10% below it either.
    await store(pulse, 30, { status_code: 200 });
    await pulse.alerts!.evaluate();
    expect(events).toHaveLength(1);
    await store(pulse, 7, { status_code: 200 }); // 30 of 67 ≈ 0.448 ≤ 0.45
    await pulse.alerts!.evaluate();
    await pulse.alerts!.evaluate();
    expect(transitions(events)).toEqual(['errors/:firing', 'errors/:resolved']);
    expect(events[1]).toMatchObject({ requests: 67, detail: { firedEventId: events[0]!.id } });
    const stored = await sql.query(`select rule, subject, state, value, requests::int from pgpulse.alert_events order by id`);
    expect(stored.rows).toEqual([
      { rule: 'errors', subject: '', state: 'firing', value: 1, requests: 30 },
      { rule: 'errors', subject: '', state: 'resolved', value: 30 / 67, requests: 67 },
    ]);
    const state = await sql.query(`select state, event_id::text from pgpulse.alert_states where rule = 'errors'`);
    expect(state.rows).toEqual([{ state: 'ok', event_id: events[1]!.id }]);
    // Rows outside the window do not count: old errors are no alert.
    await store(pulse, 40, { status_code: 500, inserted_at: ago(120_000) });
    await pulse.alerts!.evaluate();
    expect(events).toHaveLength(2);
  });

  it('fires a per-route p95 rule for the slow route only, and resolves it', async () => {
    const { pulse, events } = await start([{ kind: 'p95', name: 'slow', route: '*', thresholdMs: 100, windowMs: 60_000, minRequests: 5 }]);
    await store(pulse, 20, (i) => ({ route: '/slow', path: '/slow', duration_ms: 150 + i }));
    await store(pulse, 50, { route: '/fast', path: '/fast', duration_ms: 4 });
    await pulse.alerts!.evaluate();
    expect(transitions(events)).toEqual(['slow//slow:firing']);
    expect(events[0]!.value).toBeGreaterThan(150 * 0.98);
    expect(pulse.alerts!.states.get('slow')?.get('/slow')?.state).toBe('firing');
    // p95 of 20 slow + 400 fast rows is fast.
    await store(pulse, 400, { route: '/slow', path: '/slow', duration_ms: 3 });
    await pulse.alerts!.evaluate();
    expect(transitions(events)).toEqual(['slow//slow:firing', 'slow//slow:resolved']);
  });

  it('watches one route, and a firing route that goes quiet resolves', async () => {
    const { pulse, events } = await start([{ kind: 'errorRate', name: 'checkout', route: '/checkout', threshold: 0.1, windowMs: 2_000, minRequests: 3 }]);
    await store(pulse, 5, { route: '/other', status_code: 500 });
    await pulse.alerts!.evaluate();
    expect(events).toEqual([]);
    await store(pulse, 5, { route: '/checkout', status_code: 500 });
    await pulse.alerts!.evaluate();
    expect(transitions(events)).toEqual(['checkout//checkout:firing']);
    // No request on the route in the window any more: too few to tell, resolved.
    await eventually(async () => (await pulse.alerts!.evaluate(), events.length === 2), 10_000, 'the quiet route to resolve');
    expect(transitions(events)[1]).toBe('checkout//checkout:resolved');
  });

  it('fires a traffic-drop rule against the same window one period earlier', async () => {
    const rule: AlertRule = { kind: 'trafficDrop', name: 'drop', threshold: 0.5, windowMs: 60_000, periodMs: 600_000, minRequests: 50 };
    const { pulse, events } = await start([rule]);
    await store(pulse, 100, () => ({ inserted_at: ago(600_000 + 30_000) }));
    await store(pulse, 20, {});
    await pulse.alerts!.evaluate();
    expect(transitions(events)).toEqual(['drop/:firing']);
    expect(events[0]).toMatchObject({ value: 0.2, requests: 100, detail: { currentRequests: 20, earlierRequests: 100 } });
    await store(pulse, 40, {}); // 60 %: above 0.5 · 1.1
    await pulse.alerts!.evaluate();
    expect(transitions(events)).toEqual(['drop/:firing', 'drop/:resolved']);
  });

  it('fires no-traffic only when traffic stopped (not on a fresh install), and resolves on the next request', async () => {
    const { pulse, events } = await start([{ kind: 'noTraffic', name: 'silent', windowMs: 60_000 }]);
    expect(events).toEqual([]);
    await store(pulse, 3, { inserted_at: ago(5 * 60_000) });
    await pulse.alerts!.evaluate();
    expect(transitions(events)).toEqual(['silent/:firing']);
    await store(pulse, 1, {});
    await pulse.alerts!.evaluate();
    expect(transitions(events)).toEqual(['silent/:firing', 'silent/:resolved']);
  });

  it('fires once per new error group and resolves it when it has not recurred for the window', async () => {
    const { pulse, events } = await start([{ kind: 'newErrorGroup', name: 'new-errors', windowMs: 1_500 }]);
    const error = { class: 'TypeError', message: 'x is undefined', frames: ['at handler (app.js:1:1)'] };
    await store(pulse, 3, { status_code: 500, error_fingerprint: 'a'.repeat(16), error });
    await pulse.alerts!.evaluate();
    expect(transitions(events)).toEqual([`new-errors/${'a'.repeat(16)}:firing`]);
    expect(events[0]!.detail).toMatchObject({ class: 'TypeError', message: 'x is undefined' });
    await eventually(async () => (await pulse.alerts!.evaluate(), events.length === 2), 10_000, 'the error group to resolve');
    expect(events[1]!.state).toBe('resolved');
    // The group recurs: it is not new, no second alert.
    await store(pulse, 1, { status_code: 500, error_fingerprint: 'a'.repeat(16), error });
    await pulse.alerts!.evaluate();
    expect(events).toHaveLength(2);
  });

  it('keeps its states across a restart: a firing alert is not fired again', async () => {
    const rules: AlertRule[] = [{ kind: 'errorRate', name: 'errors', threshold: 0.5, windowMs: 60_000, minRequests: 5 }];
    const first = await start(rules);
    await store(first.pulse, 10, { status_code: 500 });
    await first.pulse.alerts!.evaluate();
    expect(first.events).toHaveLength(1);
    await first.pulse.close();
    const second = await start(rules);
    await second.pulse.alerts!.evaluate();
    expect(second.events).toEqual([]);
    expect(second.pulse.alerts!.states.get('errors')?.get('')?.state).toBe('firing');
    expect((await sql.query(`select count(*)::int as n from pgpulse.alert_events`)).rows[0].n).toBe(1);
  });

  it('lets one pulse evaluate at a time, and another take over when it closes', async () => {
    const rules: AlertRule[] = [{ kind: 'errorRate', name: 'errors', threshold: 0.5, windowMs: 60_000, minRequests: 5 }];
    const a = await start(rules);
    const b = await start(rules);
    expect(a.pulse.stats.alerts?.evaluating).toBe(true);
    expect(b.pulse.stats.alerts?.evaluating).toBe(false);
    await store(a.pulse, 10, { status_code: 500 });
    await b.pulse.alerts!.evaluate();
    expect(b.events).toEqual([]);
    await a.pulse.alerts!.evaluate();
    expect(a.events).toHaveLength(1);
    await b.pulse.alerts!.evaluate();
    expect(b.pulse.alerts!.states.get('errors')?.get('')?.state).toBe('firing');
    await a.pulse.close();
    await b.pulse.alerts!.evaluate();
    expect(b.pulse.stats.alerts?.evaluating).toBe(true);
    expect(b.events).toEqual([]);
    const rulesRow = await sql.query(`select name, kind, definition from pgpulse.alert_rules`);
    expect(rulesRow.rows).toEqual([
      {
        name: 'errors',
        kind: 'errorRate',
        definition: { kind: 'errorRate', name: 'errors', threshold: 0.5, windowMs: 60_000, minRequests: 5, hysteresis: 0.1 },
      },
    ]);
  });
});
