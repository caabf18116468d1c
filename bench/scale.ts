/**
 * Scale bench: loads `--rows` (default 10,000,000) requests spread over
 * `--days` (default 30; 365 for the year-long size) (generated inside
 * Postgres), builds the rollups in bulk and the request cube (the catch-up
 * `pgpulse maintain` runs), then times `GET /api/stats` queries for 1 hour,
 * 1 day and the whole range and compares their percentiles and visitor counts
 * with exact answers from raw rows.
 * `--filters` adds the table of every query shape the dashboard issues
 * (bench/scale/filtered-stats.ts) over 1 day and the whole range.
 * `npm run bench:scale` writes the tables into BENCHMARKS.md; `--quick` (CI)
 * runs 50,000 rows (a smoke run: every table printed, figures meaningless) and writes nothing; `--no-write` runs any size and writes nothing.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { queryStats } from '../dist/dashboard/index.js';
import { catchUpCube } from '../dist/store/cube-catch-up.js';
import { migrate } from '../dist/index.js';
import { measureFilteredStats } from './scale/filtered-stats.js';
import { createBenchDatabase } from './lib/bench-database.js';
import { fmt } from './lib/percentiles.js';
import type { PulseDatabase } from '../src/schema/database.js';

const { values } = parseArgs({
  options: {
    rows: { type: 'string' },
    quick: { type: 'boolean' },
    keep: { type: 'boolean' },
    filters: { type: 'boolean' },
    days: { type: 'string' },
    'no-write': { type: 'boolean' },
    'database-url': { type: 'string' },
  },
});
const quick = values.quick ?? false;
const rows = Number(values.rows ?? (quick ? 50_000 : 10_000_000));
const days = Number(values.days ?? 30);
if (!Number.isInteger(days) || days < 2 || days > 400) throw new RangeError(`--days must be an integer from 2 to 400, got ${values.days}`);
const write = !quick && !values['no-write'];
const serverUrl = values['database-url'] ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const log = (line: string) => console.error(`[bench:scale] ${line}`);
const seconds = (t0: number) => ((performance.now() - t0) / 1000).toFixed(1);

const database = await createBenchDatabase(serverUrl);
const db = new Kysely<PulseDatabase>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: database.url, max: 4 }) }) });
const lines: string[] = [];
const filterLines: string[] = [];
try {
  await migrate(db);
  const now = new Date();
  await sql`select pgpulse.ensure_partition(d::date) from generate_series(${now}::timestamptz - interval '1 day' * ${days + 1}, ${now}::timestamptz + interval '1 day', interval '1 day') d`.execute(
    db,
  );
  let t0 = performance.now();
  const chunk = 1_000_000;
  for (let done = 0; done < rows; done += chunk) {
    const n = Math.min(chunk, rows - done);
    await sql`
      insert into pgpulse.request_logs (request_id, method, path, route, status_code, duration_ms, response_bytes, user_agent, referer,
                                        device_type, visitor_id, session_id, node_id, inserted_at, browser, os, country, attributes)
      select 'r' || g, case when g % 10 = 0 then 'POST' else 'GET' end,
        (array['/products/', '/users/', '/api/orders/', '/search', '/', '/cart', '/checkout', '/blog/'])[1 + g % 8] || (g % 997),
        (array['/products/:id', '/users/:id', '/api/orders/:id', '/search', '/', '/cart', '/checkout', '/blog/:slug'])[1 + g % 8],
        case when g % 61 = 0 then 500 when g % 89 = 0 then 503 when g % 19 = 0 then 404 when g % 23 = 0 then 302 else 200 end,
        exp(1.5 + random() * 2.5 + (g % 8 = 6)::int * 1.5), 500 + g % 5000, 'Mozilla/5.0',
        case when g % 4 = 0 then (array['https://www.google.com/', 'https://news.ycombinator.com/', 'https://duckduckgo.com/'])[1 + g % 3] end,
        (array['desktop', 'mobile', 'tablet', 'bot'])[1 + (g % 10 > 5)::int + (g % 10 = 9)::int * 2],
        'v' || abs(hashint8(g) % 200000), 's' || (g % 400000), 'bench-' || (g % 4),
        ${now}::timestamptz - random() * interval '1 day' * ${days},
        case when g % 10 <> 9 then (array['Chrome', 'Safari', 'Firefox', 'Edge', 'Samsung Internet'])[1 + (g / 7) % 5] end,
        case when g % 10 <> 9 then (array['Windows', 'macOS', 'iOS', 'Android', 'Linux'])[1 + (g / 11) % 5] end,
        -- skewed: US about a third, the last codes rare (NZ about 0.3%)
        (array['US', 'DE', 'FR', 'GB', 'JP', 'BR', 'IN', 'CA', 'NL', 'ES', 'SE', 'NZ'])[1 + floor(12 * power(random(), 2.5))::int],
        -- a custom attribute on a third of the rows (the attribute filter reads the GIN index)
        case when g % 3 = 0 then jsonb_build_object('plan', (array['free', 'pro', 'team'])[1 + (g / 3) % 3]) end
      from generate_series(${done + 1}::bigint, ${done + n}::bigint) g`.execute(db);
    log(`${fmt(done + n)} rows loaded (${seconds(t0)} s)`);
  }
  const loadS = seconds(t0);
  t0 = performance.now();
  await sql`select pgpulse.rebuild_rollups(${now}::timestamptz - interval '1 day' * ${days + 1}, ${now}::timestamptz + interval '1 minute')`.execute(db);
  const rollupS = seconds(t0);
  log(`rollups built in ${rollupS} s`);
  // The cube, as the catch-up builds it (every closed hour; the current one stays raw).
  t0 = performance.now();
  let cubeRows = 0;
  for (;;) {
    const built = await catchUpCube(db, { maxHours: 24 * 7, settleMs: 0 });
    cubeRows += built.rows;
    if (built.pending === 0 || built.hours === 0) break;
  }
  const cubeS = seconds(t0);
  log(`cube built in ${cubeS} s (${fmt(cubeRows / Number(cubeS))} rows/s)`);
  await sql`analyze`.execute(db);
  const counts = await sql<{ raw: string; rollups: string; dimensions: string; raw_bytes: string; rollup_bytes: string; cube_bytes: string }>`
    select (select count(*) from pgpulse.request_logs) as raw, (select count(*) from pgpulse.rollups) as rollups,
      (select count(*) from pgpulse.dimension_rollups) as dimensions,
      (select sum(pg_total_relation_size(c.oid)) from pg_inherits i join pg_class c on c.oid = i.inhrelid where i.inhparent = 'pgpulse.request_logs'::regclass) as raw_bytes,
      pg_total_relation_size('pgpulse.rollups') + pg_total_relation_size('pgpulse.dimension_rollups') as rollup_bytes,
      (select sum(pg_total_relation_size(('pgpulse.' || t)::regclass)) from unnest(array['cube_keys', 'cube_cells', 'cube_values', 'cube_top_keys', 'cube_buckets']) t) as cube_bytes`.execute(
    db,
  );
  const c = counts.rows[0]!;
  const mb = (bytes: string) => `${fmt(Number(bytes) / 1e6)} MB`;

  lines.push(
    `${fmt(rows)} rows over ${days} days (loaded in ${loadS} s; rollups built in bulk in ${rollupS} s: ${fmt(Number(c.rollups))} rollup rows, ${fmt(Number(c.dimensions))} dimension rollup rows; ` +
      `request cube built by the catch-up in ${cubeS} s, ${fmt(cubeRows / Number(cubeS))} rows/s). Storage: raw rows ${mb(c.raw_bytes)} with indexes, ` +
      `rollups ${mb(c.rollup_bytes)}, cube ${mb(c.cube_bytes)} (rollups and cube ${fmt(((Number(c.rollup_bytes) + Number(c.cube_bytes)) / Number(c.raw_bytes)) * 100, 1)}% of the raw table). Median of 5 runs per range.`,
  );
  lines.push('');
  lines.push('| range | rows in range | /api/stats median ms | max ms | p50 / p95 / p99 error vs exact | visitors error vs exact |');
  lines.push('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const [label, ms] of [
    ['1 hour', 3_600_000],
    ['1 day', 86_400_000],
    [`${days} days`, days * 86_400_000],
  ] as const) {
    const params = { from: new Date(now.getTime() - ms), to: now, tz: 'Europe/Paris' };
    const { times, stats } = await timeStats(params);
    const exact = await sql<{ n: string; pct: number[]; visitors: string }>`
      select count(*) as n, percentile_cont(array[0.5, 0.95, 0.99]::float8[]) within group (order by duration_ms) as pct,
             count(distinct visitor_id) as visitors
      from pgpulse.request_logs where inserted_at >= ${params.from} and inserted_at < ${params.to}`.execute(db);
    const e = exact.rows[0]!;
    const rel = (a: number | null, b: number) => `${fmt((Math.abs((a ?? 0) - b) / b) * 100, 2)}%`;
    const t = stats.totals;
    lines.push(
      `| ${label} | ${fmt(Number(e.n))} | ${fmt(times[2]!, 0)} | ${fmt(times[4]!, 0)} | ${rel(t.p50, e.pct[0]!)} / ${rel(t.p95, e.pct[1]!)} / ${rel(t.p99, e.pct[2]!)} | ${rel(t.visitors, Number(e.visitors))} |`,
    );
    log(lines[lines.length - 1]!);
  }
  if (values.filters)
    filterLines.push(
      ...(await measureFilteredStats(
        db,
        rows,
        [
          ['1 day', 86_400_000],
          [`${days} days`, days * 86_400_000],
        ],
        now,
      )),
    );
} finally {
  await db.destroy();
  if (values.keep) log(`kept database ${database.url}`);
  else await database.drop();
}
console.log(lines.join('\n'));
if (filterLines.length > 0) console.log(`\n${filterLines.join('\n')}`);
if (write) {
  const file = fileURLToPath(new URL('../BENCHMARKS.md', import.meta.url));
  let text = await readFile(file, 'utf8');
  if (!text.includes('<!-- scale:start -->'))
    text += '\n## Scale: stats over months of traffic (`npm run bench:scale`)\n\n<!-- scale:start -->\n<!-- scale:end -->\n';
  const start = text.indexOf('<!-- scale:start -->');
  const end = text.indexOf('<!-- scale:end -->');
  text = `${text.slice(0, start)}<!-- scale:start -->\n${lines.join('\n')}\n${text.slice(end)}`;
  if (filterLines.length > 0) {
    if (!text.includes('<!-- scale-filters:start -->'))
      text += '\n### Filtered stats at scale (`npm run bench:scale -- --filters`)\n\n<!-- scale-filters:start -->\n<!-- scale-filters:end -->\n';
    const fStart = text.indexOf('<!-- scale-filters:start -->');
    const fEnd = text.indexOf('<!-- scale-filters:end -->');
    text = `${text.slice(0, fStart)}<!-- scale-filters:start -->\n${filterLines.join('\n')}\n${text.slice(fEnd)}`;
  }
  await writeFile(file, text);
  log('wrote BENCHMARKS.md');
}

/** Runs the stats query 5 times: the run times sorted (ms) and the last answer. */
async function timeStats(params: Parameters<typeof queryStats>[1]): Promise<{ times: number[]; stats: Awaited<ReturnType<typeof queryStats>> }> {
  const times: number[] = [];
  let stats: Awaited<ReturnType<typeof queryStats>> | undefined;
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    stats = await queryStats(db, params);
    times.push(performance.now() - t);
  }
  if (!stats) throw new Error('no stats measured');
  return { times: times.sort((a, b) => a - b), stats };
}
