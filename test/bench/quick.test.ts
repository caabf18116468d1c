import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { adminQuery } from '../support/database.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

function run(command: string, args: string[]): Promise<{ code: number | null; output: string }> {
  const child = spawn(command, args, { cwd: root, env: { ...process.env, DATABASE_URL: '' } });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, output })));
}

async function databaseExists(adminUrl: string, name: string): Promise<boolean> {
  return (await adminQuery(adminUrl, 'select 1 from pg_database where datname = $1', [name])).rowCount === 1;
}

/** The part of BENCHMARKS.md a full run rewrites. */
async function benchSection(): Promise<string> {
  const text = await readFile(join(root, 'BENCHMARKS.md'), 'utf8').catch(() => '');
  return text.slice(text.indexOf('<!-- bench:start -->'), text.indexOf('<!-- bench:end -->'));
}

/**
 * CI smoke test of `npm run bench:quick`: every scenario runs at tiny sizes
 * and produces its table. Asserts nothing about speed; about 30 s.
 */
describe('bench quick mode', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pgpulse-bench-'));
    // The bench measures the package as shipped (dist/); build it when absent.
    if (!existsSync(join(root, 'dist/create-pulse.js')))
      await run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json']);
  }, 120_000);
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('runs every scenario, prints every table, drops its database and leaves BENCHMARKS.md alone', async () => {
    const adminUrl = inject('databaseUrl');
    const sectionBefore = await benchSection();
    const out = join(dir, 'quick.md');
    const result = await run(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--quick', '--database-url', adminUrl, '--out', out]);
    expect(result.code, result.output).toBe(0);
    const tables = await readFile(out, 'utf8');
    for (const heading of ['### 1. Capture overhead', '### 2. Ingest', '### 3. NOTIFY bridge', '### 4. Local PubSub fan-out', '### Targets'])
      expect(tables).toContain(heading);
    for (const row of [
      '| node:http | autocannon ×10 | plain |',
      '| node:http | wrk ×10 | pino-http',
      "| Fastify 5 | autocannon ×10 | Fastify's pino",
      'COPY FROM STDIN',
      'pgpulse bridge @ 10,000/s',
      '| 100 |',
    ])
      expect(tables).toContain(row);
    expect(tables).toContain('QUICK MODE');
    expect(tables).not.toMatch(/\| NaN|undefined/);
    expect(await benchSection()).toBe(sectionBefore);
    const database = /\[bench\] database (pgpulse_bench_\w+)/.exec(result.output)?.[1];
    expect(database, result.output).toBeDefined();
    expect(await databaseExists(adminUrl, database!)).toBe(false);
    // A hang guard, not a timing check: quick mode starts 16 server processes
    // (up to 5 capture variants per framework and load tool), which takes over 90 s when the
    // rest of the suite shares the 2 cores.
  }, 600_000);
});
