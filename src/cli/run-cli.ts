import { CliError, exitCodes } from './exit-codes.js';
import { errorMessage } from '../shared/describe-error.js';

type Command = { summary: string; run: (argv: string[]) => Promise<number> };

/** Subcommands, each loaded only when used. */
const commands: Record<string, Command> = {
  migrate: { summary: 'create or update the pgpulse schema', run: async (a) => (await import('./commands/migrate.js')).migrateCommand(a) },
  maintain: { summary: 'create partitions ahead, apply retention', run: async (a) => (await import('./commands/maintain.js')).maintainCommand(a) },
  'rebuild-rollups': {
    summary: 'recompute rollups of a range from raw rows (after deleting rows by hand)',
    run: async (a) => (await import('./commands/rebuild-rollups.js')).rebuildRollupsCommand(a),
  },
  dashboard: {
    summary: 'serve the live dashboard (fed by the NOTIFY bridge)',
    run: async (a) => (await import('./commands/dashboard.js')).dashboardCommand(a),
  },
  tail: { summary: 'print fresh rows as NDJSON (from the NOTIFY bridge)', run: async (a) => (await import('./commands/tail.js')).tailCommand(a) },
  uninstall: {
    summary: 'remove the pgpulse schema and publication (needs --yes)',
    run: async (a) => (await import('./commands/uninstall.js')).uninstallCommand(a),
  },
  demo: { summary: 'sample app + synthetic traffic + dashboard, on embedded Postgres', run: async (a) => (await import('./commands/demo.js')).demoCommand(a) },
};

export const mainHelp = `Usage: pgpulse <command> [options]

Live request analytics stored in your own Postgres.

Commands:
${Object.entries(commands)
  .map(([name, c]) => `  ${name.padEnd(16)} ${c.summary}`)
  .join('\n')}

Every command takes --database-url URL (or $DATABASE_URL) and --help;
\`pgpulse help <command>\` is the same as \`pgpulse <command> --help\`.

Options:
  -h, --help       show this help
  -v, --version    print pgpulse's version

Exit codes (stable, for scripts):
  0  ok (also after Ctrl-C / SIGTERM of a long-running command)
  1  unexpected failure
  2  usage error: unknown command or option, bad value, no database URL
  3  Postgres unreachable or login refused
  4  database reachable but pgpulse migrations missing: run \`pgpulse migrate\`
  5  \`pgpulse migrate\` could not take a table lock (a long transaction holds it); run it again`;

/** Runs the CLI and returns the process exit code. */
export async function runCli(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === 'help' && rest[0] && commands[rest[0]]) return runCli([rest[0], '--help']);
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    if (!name) {
      console.error(mainHelp);
      return exitCodes.usage;
    }
    console.log(mainHelp);
    return exitCodes.ok;
  }
  if (name === '--version' || name === '-v') {
    const { createRequire } = await import('node:module');
    console.log((createRequire(import.meta.url)('../../package.json') as { version: string }).version);
    return exitCodes.ok;
  }
  const command = commands[name];
  if (!command) {
    console.error(`pgpulse: unknown command "${name}"\n\n${mainHelp}`);
    return exitCodes.usage;
  }
  try {
    return await command.run(rest);
  } catch (error) {
    if (error instanceof CliError) {
      console.error(error.message);
      return error.exitCode;
    }
    const code = (error as { code?: string }).code;
    if (code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`pgpulse ${name}: ${errorMessage(error)} (see pgpulse ${name} --help)`);
      return exitCodes.usage;
    }
    console.error(`pgpulse ${name}: ${(error as Error).stack ?? String(error)}`);
    return exitCodes.failure;
  }
}
