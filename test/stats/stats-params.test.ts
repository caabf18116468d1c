import { describe, expect, it } from 'vitest';
import { parseStatsParams } from '../../src/stats/stats-params.js';

const parse = (query: string) => parseStatsParams(new URLSearchParams(query));

describe('parseStatsParams', () => {
  it('accepts epoch milliseconds and ISO dates, and defaults to = now and tz = UTC', () => {
    const epoch = parse('from=1900000000000&to=1900000600000');
    expect(epoch).toMatchObject({ ok: true, params: { from: new Date(1_900_000_000_000), to: new Date(1_900_000_600_000), tz: 'UTC' } });
    const iso = parse(`from=${encodeURIComponent('2030-01-01T00:00:00+01:00')}&to=2030-01-02&tz=Europe/Paris`);
    expect(iso.ok && iso.params.from.toISOString()).toBe('2029-12-31T23:00:00.000Z');
    const open = parse(`from=${Date.now() - 60_000}`);
    expect(open.ok && Math.abs(open.params.to.getTime() - Date.now())).toBeLessThan(60_000);
  });

  it('canonicalises time zone names so Postgres sees the name Intl validated', () => {
    expect(parse('from=0&to=1&tz=utc')).toMatchObject({ params: { tz: 'UTC' } });
    expect(parse('from=0&to=1&tz=america/new_york')).toMatchObject({ params: { tz: 'America/New_York' } });
  });

  it('names the offending parameter', () => {
    const issues = (query: string) => {
      const result = parse(query);
      return result.ok ? [] : result.issues.map((i) => i.path);
    };
    expect(issues('from=soon')).toEqual(['from']);
    expect(issues('from=10&to=5')).toEqual(['from']);
    expect(issues('from=10&to=10')).toEqual(['from']);
    expect(issues(`from=0&to=${401 * 86_400_000}`)).toEqual(['to']);
    expect(issues('from=0&to=1&tz=%2B01:00')).toEqual(['tz']);
    expect(issues("from=0&to=1&tz=UTC'; drop table x")).toEqual(['tz']);
    expect(issues('from=0&to=1&order=desc&_=1700000000000'), 'unknown parameters (cache busters) are ignored').toEqual([]);
    expect(issues(`from=0&to=1&route=${'x'.repeat(3000)}`)).toEqual(['route']);
    expect(issues('from=0&to=1&token=abc')).toEqual([]);
    expect(issues('from=0&to=1&device=fridge')).toEqual(['device']);
    expect(issues('from=0&to=1&status=6xx')).toEqual(['status']);
    expect(issues('from=0&to=1&referrer=')).toEqual(['referrer']);
  });

  it('takes the filters, ignoring unknown parameters', () => {
    const result = parse('from=0&to=1&route=&path=/a&referrer=WWW.Example.com&device=mobile&status=4xx&node=web-1&utm_source=x');
    expect(result.ok && result.params).toMatchObject({ route: '', path: '/a', referrer: 'www.example.com', device: 'mobile', status: '4xx', node: 'web-1' });
    expect(result.ok && 'utm_source' in result.params).toBe(false);
  });
});
