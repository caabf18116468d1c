import { describe, expect, it } from 'vitest';
import { resolveAlertRules, type AlertRule } from '../../src/alerts/alert-rules.js';
import { resolveWebhooks } from '../../src/alerts/webhook-options.js';

describe('alert rules', () => {
  it('applies the defaults of each kind', () => {
    expect(
      resolveAlertRules([
        { kind: 'errorRate', name: 'errors', threshold: 0.05 },
        { kind: 'p95', name: 'slow', thresholdMs: 500, route: '*' },
        { kind: 'trafficDrop', name: 'drop', threshold: 0.5 },
        { kind: 'noTraffic', name: 'silent', windowMs: 600_000 },
        { kind: 'newErrorGroup', name: 'new' },
      ]),
    ).toEqual([
      { kind: 'errorRate', name: 'errors', threshold: 0.05, windowMs: 300_000, minRequests: 20, hysteresis: 0.1 },
      { kind: 'p95', name: 'slow', thresholdMs: 500, route: '*', windowMs: 300_000, minRequests: 20, hysteresis: 0.1 },
      { kind: 'trafficDrop', name: 'drop', threshold: 0.5, windowMs: 300_000, periodMs: 86_400_000, minRequests: 100, hysteresis: 0.1 },
      { kind: 'noTraffic', name: 'silent', windowMs: 600_000 },
      { kind: 'newErrorGroup', name: 'new', windowMs: 300_000 },
    ]);
  });

  it('names every bad field of every rule', () => {
    const bad = [
      { kind: 'errorRate', name: 'a', threshold: 2 },
      { kind: 'p95', name: 'a b', thresholdMs: -1 },
      { kind: 'bogus', name: 'x' },
      { kind: 'errorRate', name: 'r', threshold: 0.1, route: '*', windowMs: 7_200_000 },
      { kind: 'trafficDrop', name: 'd', threshold: 0.5, windowMs: 600_000, periodMs: 60_000 },
      { kind: 'noTraffic', name: 'n', windowMs: 10, extra: true },
      { kind: 'errorRate', name: 'a', threshold: 0.1 },
    ] as unknown as AlertRule[];
    let message = '';
    try {
      resolveAlertRules(bad);
    } catch (error) {
      expect(error).toBeInstanceOf(TypeError);
      message = (error as Error).message;
    }
    for (const part of [
      'alerts[0].threshold',
      'alerts[1].name',
      'alerts[1].thresholdMs',
      'alerts[2].kind',
      'alerts[3].windowMs: must be at most 3600000 ms for a per-route rule',
      'alerts[4].periodMs: must be at least windowMs',
      'alerts[5].windowMs',
      'alerts[5]: Unrecognized key: "extra"',
    ])
      expect(message).toContain(part);
    expect(() => resolveAlertRules([bad[0]!, bad[0]!].map((r) => ({ ...r, threshold: 0.1 })) as AlertRule[])).toThrow(
      'alerts[1].name: duplicate rule name "a"',
    );
  });

  it('validates webhooks', () => {
    expect(resolveWebhooks([{ url: 'https://hooks.example.com/x' }])[0]).toMatchObject({ format: 'json', maxAttempts: 5, backoffMs: 1_000, timeoutMs: 10_000 });
    expect(() => resolveWebhooks([{ url: 'ftp://x' }, { url: 'http://x', secret: 'short', headers: { 'bad header': 'v' } }])).toThrow(
      /alertWebhooks\[0\]\.url: must be an http\(s\) URL.*alertWebhooks\[1\]\.secret: must be at least 16 characters.*alertWebhooks\[1\]\.headers/,
    );
  });
});
