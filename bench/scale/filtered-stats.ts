/**
 * The filtered-stats table of `npm run bench:scale -- --filters`: every query
 * shape the dashboard issues (no filter, each single filter, two and three
 * filters, a status class and an exact code, a path, a referrer host, an
 * attribute, and the comparison period the page loads beside each view), timed
 * through `queryStats` and checked against exact SQL over the raw rows.
 */
import { sql, type Kysely } from 'kysely';
import { parseStatsParams, queryStats } from '../../dist/dashboard/index.js';
import { filterCondition } from '../../dist/stats/stats-filters.js';
import type { PulseDatabase } from '../../src/schema/database.js';
import { fmt } from '../lib/percentiles.js';

type Stats = Awaited<ReturnType<typeof queryStats>>;
type Params = Parameters<typeof queryStats>[1];

/** The goal of issue #23: ≤ 500 ms median and ≤ 1 s max for every query, ≤ 300 ms median unfiltered. */
const GOAL = { medianMs: 500, maxMs: 1_000, unfilteredMedianMs: 300 };

/** Query shapes: a label, the filters (as the page sends them) and whether the comparison period is timed too. */
export const filterCases: readonly (readonly [label: string, filters: Record<string, string>, compare?: boolean])[] = [
  ['no filter', {}, true],
  ['route', { route: '/cart' }],
  ['path', { path: '/search0' }],
  ['referrer host', { referrer: 'news.ycombinator.com' }],
  ['device', { device: 'mobile' }],
  ['status class', { status: '5xx' }, true],
  ['status code', { status: '404' }],
  ['node', { node: 'bench-2' }],
  ['browser', { browser: 'Firefox' }],
  ['OS', { os: 'iOS' }],
  ['country', { country: 'DE' }],
  ['rare country', { country: 'NZ' }],
  ['attribute', { attribute: 'plan:pro' }],
  ['two filters', { browser: 'Chrome', country: 'US' }, true],
  ['two filters', { status: '5xx', route: '/search' }],
  ['two filters', { referrer: 'google.com', device: 'mobile' }],
  ['three filters', { browser: 'Safari', os: 'iOS', country: 'DE' }],
  ['three filters', { status: '404', device: 'bot', node: 'bench-1' }],
  ['three filters, path', { path: '/search0', status: '2xx', country: 'US' }],
];

/** Runs `run` 5 times: the run times sorted (ms) and the last answer. */
async function timed<T>(run: () => Promise<T>): Promise<{ times: number[]; answer: T }> {
  const times: number[] = [];
  let answer: T | undefined;
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    answer = await run();
    times.push(performance.now() - t);
  }
  return { times: times.sort((a, b) => a - b), answer: answer! };
}

interface Exact {
  n: number;
  visitors: number;
  codes: Record<string, number>;
}

async function exactAnswer(db: Kysely<PulseDatabase>, params: Params): Promise<Exact> {
  const result = await sql<{ code: string; n: number; visitors: number }>`
    select coalesce(status_code::text, 'all') as code, count(*)::int as n, count(distinct visitor_id)::int as visitors
    from pgpulse.request_logs where inserted_at >= ${params.from} and inserted_at < ${params.to} and ${filterCondition(params)}
    group by grouping sets ((), (status_code))`.execute(db);
  const all = result.rows.find((r) => r.code === 'all');
  const codes: Record<string, number> = {};
  for (const row of result.rows) if (row.code !== 'all') codes[row.code] = row.n;
  return { n: all?.n ?? 0, visitors: all?.visitors ?? 0, codes };
}

/** Largest difference between a top path count shown and its exact count, in requests. */
async function topPathError(db: Kysely<PulseDatabase>, params: Params, stats: Stats): Promise<number> {
  const keys = stats.topPaths.map((p) => p.key).filter((k): k is string => k !== null);
  if (keys.length === 0) return 0;
  const exact = await sql<{ path: string; n: number }>`select path, count(*)::int as n from pgpulse.request_logs
    where inserted_at >= ${params.from} and inserted_at < ${params.to} and ${filterCondition(params)} and path = any(${keys}::text[]) group by path`.execute(
    db,
  );
  const counts = new Map(exact.rows.map((r) => [r.path, r.n]));
  return Math.max(0, ...stats.topPaths.map((p) => Math.abs(p.requests - (counts.get(p.key ?? '') ?? 0))));
}

/** The bound the answer states for its top path counts (0 when exact). */
const statedBound = (stats: Stats) => Math.max(stats.range.topKeysBound ?? 0, stats.range.sampledMargin ?? 0);

/**
 * Times every shape of {@link filterCases} over each range, and the
 * comparison period of some; returns the table's lines.
 */
export async function measureFilteredStats(
  db: Kysely<PulseDatabase>,
  rows: number,
  ranges: readonly (readonly [string, number])[],
  now: Date,
): Promise<string[]> {
  const lines = [
    `Filtered \`GET /api/stats\` over the same ${fmt(rows)} rows, every query shape the dashboard issues. Median and max of 5 runs. ` +
      `"exact" compares requests and every status code with raw rows; visitors and top paths are compared with exact SQL ` +
      `(top paths: the largest error of a count shown, and the bound the answer states). Goal: median ≤ ${GOAL.medianMs} ms and max ≤ ${fmt(GOAL.maxMs)} ms ` +
      `(unfiltered median ≤ ${GOAL.unfilteredMedianMs} ms).`,
    '',
    '| range | shape | filters | answered from | rows matched | median ms | max ms | goal | exact | visitors error | top path error / bound |',
    '| --- | --- | --- | --- | ---: | ---: | ---: | --- | --- | ---: | ---: |',
  ];
  for (const [range, ms] of ranges) {
    for (const [shape, filters, compare] of filterCases) {
      const search = (from: number, to: number) => new URLSearchParams({ from: String(from), to: String(to), tz: 'Europe/Paris', ...filters });
      const params = parse(search(now.getTime() - ms, now.getTime()));
      const previous = parse(search(now.getTime() - 2 * ms, now.getTime() - ms));
      const name = Object.entries(filters)
        .map(([k, v]) => `${k}=${v}`)
        .join(' & ');
      const measured: [string, Params, () => Promise<Stats>][] = [[shape, params, () => queryStats(db, params)]];
      // The page loads the view and its previous period at once.
      if (compare)
        measured.push([`${shape} + comparison period`, params, async () => (await Promise.all([queryStats(db, params), queryStats(db, previous)]))[0]]);
      for (const [label, p, run] of measured) {
        const { times, answer } = await timed(run);
        const exact = await exactAnswer(db, p);
        const codes = Object.fromEntries((answer.statusCodes ?? []).map((c) => [c.key, c.requests]));
        const same = answer.totals.requests === exact.n && JSON.stringify(sortKeys(codes)) === JSON.stringify(sortKeys(exact.codes));
        const visitorsError = exact.visitors === 0 ? 0 : Math.abs((answer.totals.visitors ?? 0) - exact.visitors) / exact.visitors;
        const median = times[2]!;
        const max = times[4]!;
        const met = median <= (name === '' ? GOAL.unfilteredMedianMs : GOAL.medianMs) && max <= GOAL.maxMs;
        const pathError = await topPathError(db, p, answer);
        lines.push(
          `| ${range} | ${label} | ${name || '–'} | ${answer.range.source} | ${fmt(exact.n)} | ${fmt(median)} | ${fmt(max)} | ${met ? 'met' : 'MISSED'} | ` +
            `${same ? 'yes' : answer.statusCodes ? 'NO' : 'no codes'} | ${answer.totals.visitors === null ? 'none shown' : `${fmt(visitorsError * 100, 2)}%`} | ` +
            `${fmt(pathError)} / ${fmt(statedBound(answer))} |`,
        );
        console.error(`[bench:scale] ${lines[lines.length - 1]!}`);
      }
    }
  }
  return lines;
}

function parse(search: URLSearchParams): Params {
  const parsed = parseStatsParams(search);
  if (!parsed.ok) throw new Error(`bad filter ${search.toString()}: ${JSON.stringify(parsed.issues)}`);
  return parsed.params;
}

const sortKeys = (o: Record<string, number>) => Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
