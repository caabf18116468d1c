import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';

const commands = ['migrate', 'maintain', 'rebuild-rollups', 'dashboard', 'tail', 'demo'] as const;

/** The flags of a help text's usage line(s) (up to the first blank line) and of its Options section. */
function flagsOf(help: string): { usage: string[]; options: string[] } {
  const usage = help.slice(0, help.indexOf('\n\n'));
  const options = help.slice(help.indexOf('\nOptions:\n'));
  const flags = (text: string) => [...new Set([...text.matchAll(/--[a-z][a-z-]*/g)].map((m) => m[0]))].sort();
  // Options section: the flag each line starts with (descriptions mention other flags).
  const listed = [...options.matchAll(/^\s+(?:-[a-z], )?(--[a-z][a-z-]*)/gm)].map((m) => m[1]!);
  return { usage: flags(usage).filter((flag) => flag !== '--help'), options: [...new Set(listed)].filter((flag) => flag !== '--help').sort() };
}

describe('CLI help texts', () => {
  it.each(commands)('pgpulse %s: the usage line lists every option the Options section describes, and only those', async (command) => {
    const { code, stdout } = await runCli([command, '--help']);
    expect(code).toBe(0);
    const { usage, options } = flagsOf(stdout);
    expect(options.length).toBeGreaterThan(0);
    expect(usage).toEqual(options);
  });

  it('--version is listed in --help and prints the package version', async () => {
    const help = await runCli(['--help']);
    expect(help.stdout).toMatch(/^\s+-v, --version\s/m);
    const version = await runCli(['--version']);
    expect(version.code).toBe(0);
    const { createRequire } = await import('node:module');
    expect(version.stdout.trim()).toBe((createRequire(import.meta.url)('../../package.json') as { version: string }).version);
  });

  it.each([
    ['dashboard', '--port', '-1', /pgpulse dashboard: --port must be 0–65535, got "-1"/],
    ['dashboard', '--metrics-port', '-5', /--metrics-port must be 0–65535, got "-5"/],
    ['demo', '--rate', '-3', /pgpulse demo: --rate must be a non-negative number, got "-3"/],
    ['demo', '--port', '-1.5', /pgpulse demo: --port must be a non-negative number, got "-1.5"/],
    ['demo', '--rate', 'fast', /pgpulse demo: --rate must be a non-negative number, got "fast"/],
    ['maintain', '--retention-days', '-2', /pgpulse maintain: --retention-days/],
  ])('pgpulse %s %s %s: pgpulse’s own message, exit 2 (not parseArgs’ "ambiguous")', async (command, flag, value, message) => {
    const result = await runCli([command, flag, value], { DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' });
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).not.toMatch(/ambiguous/);
  });

  it('pgpulse dashboard --metrics-port without prom-client exits 2 with its message before connecting', async () => {
    // prom-client made unresolvable, as in an app that does not install it (a require hook, not a mock of pgpulse).
    const hide = fileURLToPath(new URL('fixtures/hide-prom-client.mjs', import.meta.url));
    const result = await runCli(['dashboard', '--metrics-port', '9464', '--port', '0'], {
      DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none',
      NODE_OPTIONS: `--import ${hide}`,
    });
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toContain('pgpulse dashboard: --metrics-port needs prom-client, an optional peer dependency: npm i prom-client');
    expect(result.stderr).not.toMatch(/unreachable|ECONNREFUSED/);
  });
});
