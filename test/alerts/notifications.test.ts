import { createHmac } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createPulse, type Pulse, type PulseOptions } from '../../src/create-pulse.js';
import { AlertNotifier, type AlertNotifyFailure } from '../../src/alerts/alert-notifier.js';
import type { AlertEvent } from '../../src/alerts/alert-store.js';
import { resolveWebhooks } from '../../src/alerts/webhook-options.js';
import type { AlertRule } from '../../src/alerts/alert-rules.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { eventually, makeLog } from '../support/fixtures.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.js';

const SECRET = 'a-long-enough-webhook-secret';
const rules: AlertRule[] = [{ kind: 'errorRate', name: 'errors', threshold: 0.5, windowMs: 60_000, minRequests: 5 }];

/** Alert notifications sent to a real local HTTP receiver. */
describe('alert notifications', () => {
  let database: TestDatabase;
  let sql: pg.Pool;
  let receiver: WebhookReceiver;
  const pulses: Pulse[] = [];

  beforeEach(async () => {
    database = await createTestDatabase();
    sql = new pg.Pool({ connectionString: database.url, max: 2 });
    receiver = await startWebhookReceiver();
  });

  afterEach(async () => {
    await Promise.all(pulses.splice(0).map((p) => p.close()));
    await receiver.close();
    await sql.end();
    await database.drop();
  });

  async function start(options: Partial<PulseOptions>): Promise<{ pulse: Pulse; failures: AlertNotifyFailure[] }> {
    const pulse = createPulse({ connectionString: database.url, alerts: rules, alertIntervalMs: 3_600_000, maxWaitMs: 5, cubeIntervalMs: 0, ...options });
    pulses.push(pulse);
    const failures: AlertNotifyFailure[] = [];
    pulse.on('alertNotifyFailed', (failure) => failures.push(failure));
    await pulse.migrate();
    await pulse.alerts!.evaluate();
    return { pulse, failures };
  }

  async function fire(pulse: Pulse, status = 500, count = 10): Promise<void> {
    for (let i = 0; i < count; i++) pulse.pubsub.publish(makeLog({ status_code: status }));
    await pulse.flush();
    await pulse.alerts!.evaluate();
  }

  const outbox = async () =>
    (await sql.query(`select id::text, state, notified_at is not null as notified, notify_error from pgpulse.alert_events order by id`)).rows as {
      id: string;
      state: string;
      notified: boolean;
      notify_error: string | null;
    }[];

  it('posts the documented JSON body, signed with HMAC-SHA256 over "<timestamp>.<body>", and a Slack body', async () => {
    const { pulse } = await start({
      alertWebhooks: [
        { url: `${receiver.url}/json`, secret: SECRET, headers: { authorization: 'Bearer t' } },
        { url: `${receiver.url}/slack/T000/B000/secret`, format: 'slack' },
      ],
    });
    await fire(pulse);
    await eventually(() => receiver.received.length === 2, 10_000, 'both deliveries');
    const json = receiver.received.find((r) => r.path === '/json')!;
    const slack = receiver.received.find((r) => r.path.startsWith('/slack'))!;
    const [event] = await outbox();
    expect(json.headers).toMatchObject({ 'content-type': 'application/json', authorization: 'Bearer t', 'x-pgpulse-delivery': event!.id });
    const timestamp = json.headers['x-pgpulse-timestamp'] as string;
    expect(Math.abs(Number(timestamp) - Date.now() / 1000)).toBeLessThan(300);
    const expected = `sha256=${createHmac('sha256', SECRET).update(`${timestamp}.${json.body}`).digest('hex')}`;
    expect(json.headers['x-pgpulse-signature']).toBe(expected);
    expect(JSON.parse(json.body)).toEqual({
      version: 1,
      type: 'alert.firing',
      id: event!.id,
      rule: 'errors',
      kind: 'errorRate',
      subject: '',
      state: 'firing',
      value: 1,
      threshold: 0.5,
      requests: 10,
      release: null,
      evaluator: pulse.nodeId,
      at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) as unknown,
      detail: { errors: 10, windowMs: 60_000 },
      summary: 'FIRING errors: error rate 100% (threshold 50%) over 1 min, 10 requests',
    });
    expect(slack.headers['x-pgpulse-signature']).toBeUndefined();
    expect(JSON.parse(slack.body)).toEqual({ text: ':rotating_light: FIRING errors: error rate 100% (threshold 50%) over 1 min, 10 requests' });
    await eventually(async () => (await outbox())[0]!.notified, 10_000, 'the event marked notified');
    expect(pulse.stats.alerts?.notifications).toMatchObject({ delivered: 1, failures: 0, givenUp: 0 });
  });

  it('retries 5xx and network failures with backoff, then delivers once; failures are counted and emitted', async () => {
    receiver.answer = ({ index }) => (index < 2 ? 503 : 200);
    const { pulse, failures } = await start({ alertWebhooks: [{ url: receiver.url, backoffMs: 20 }] });
    await fire(pulse);
    await eventually(async () => (await outbox())[0]?.notified === true, 10_000, 'delivery after retries');
    expect(receiver.received.map((r) => r.status)).toEqual([503, 503, 200]);
    expect(new Set(receiver.received.map((r) => r.headers['x-pgpulse-delivery'])).size).toBe(1);
    expect(failures.map((f) => [f.attempt, f.final, f.error.message, f.target])).toEqual([
      [1, false, 'answered 503', receiver.url],
      [2, false, 'answered 503', receiver.url],
    ]);
    expect(pulse.stats.alerts?.notifications).toMatchObject({ delivered: 1, failures: 2, givenUp: 0 });
  });

  it('gives up on a 4xx answer or after maxAttempts, records it, and never throws into the app', async () => {
    receiver.answer = () => 410;
    const refused = 'http://127.0.0.1:1/hook';
    const { pulse, failures } = await start({ alertWebhooks: [{ url: receiver.url }, { url: refused, maxAttempts: 2, backoffMs: 10 }] });
    await fire(pulse);
    await eventually(async () => (await outbox())[0]?.notify_error !== null, 10_000, 'the delivery given up');
    const [event] = await outbox();
    expect(event!.notified).toBe(false);
    expect(event!.notify_error).toContain(`${receiver.url}: answered 410`);
    expect(event!.notify_error).toContain('http://127.0.0.1:1: request failed');
    expect(failures.filter((f) => f.final)).toHaveLength(2);
    expect(receiver.received).toHaveLength(1);
    expect(pulse.stats.alerts?.notifications).toMatchObject({ givenUp: 1, failures: 3 });
    // Not offered again.
    await pulse.alerts!.evaluate();
    expect(receiver.received).toHaveLength(1);
  });

  it('keeps undelivered events in the outbox across a restart and sends each once', async () => {
    receiver.answer = () => 503;
    const first = await start({ alertWebhooks: [{ url: receiver.url, backoffMs: 60_000 }] });
    await fire(first.pulse);
    await eventually(() => receiver.received.length === 1, 10_000, 'the first attempt');
    await first.pulse.close(); // mid-backoff: the delivery is abandoned, the event stays pending
    expect((await outbox())[0]).toMatchObject({ notified: false, notify_error: null });
    receiver.answer = () => 200;
    const second = await start({ alertWebhooks: [{ url: receiver.url }] });
    await eventually(async () => (await outbox())[0]?.notified === true, 10_000, 'the pending event delivered');
    await second.pulse.alerts!.evaluate();
    await second.pulse.alerts!.evaluate();
    expect(receiver.received.map((r) => r.status)).toEqual([503, 200]);
    expect(receiver.accepted()).toHaveLength(1);
  });

  it('bounds its queue: a full queue refuses events (they stay in the outbox), close abandons the one in flight', async () => {
    receiver.answer = () => 503;
    const done: string[] = [];
    const notifier = new AlertNotifier(
      resolveWebhooks([{ url: receiver.url, backoffMs: 60_000 }]),
      ({ event }) => (done.push(event.id), Promise.resolve()),
      () => undefined,
      2,
    );
    const event = (id: string): AlertEvent => ({
      id,
      rule: 'r',
      subject: '',
      kind: 'noTraffic',
      state: 'firing',
      value: 0,
      threshold: null,
      requests: 0,
      release: null,
      evaluator: 'n',
      detail: {},
      at: new Date(),
    });
    expect(['1', '2', '3', '4'].map((id) => notifier.offer(event(id)))).toEqual([true, true, true, false]);
    expect(notifier.offer(event('2'))).toBe(false); // already queued
    expect(notifier.stats).toMatchObject({ queueFull: 1, queued: 3 });
    await eventually(() => receiver.received.length === 1, 10_000, 'the first attempt');
    await notifier.close();
    await notifier.close();
    expect(done).toEqual([]);
    expect(notifier.offer(event('5'))).toBe(false);
  });
});
