import { CliError, exitCodes } from './exit-codes.js';

type Command = { summary: string; run: (argv: string[]) => Promise<number> };

/** Subcommands, each loaded only when used. */
const commands: Record<string, Command> = {
  migrate: { summary: 'create or update the pgpulse schema', run: async (a) => (await import('./commands/migrate.js')).migrateCommand(a) },
  maintain: { summary: 'create partitions ahead, apply retention', run: async (a) => (await import('./commands/maintain.js')).maintainCommand(a) },
  dashboard: { summary: 'serve the live dashboard (fed by the NOTIFY bridge)', run: async (a) => (await import('./commands/dashboard.js')).dashboardCommand(a) },
  tail: { summary: 'print fresh rows as NDJSON (from the NOTIFY bridge)', run: async (a) => (await import('./commands/tail.js')).tailCommand(a) },
  demo: { summary: 'sample app + synthetic traffic + dashboard, on embedded Postgres', run: async (a) => (await import('./commands/demo.js')).demoCommand(a) },
};

export const mainHelp = `Usage: pgpulse <command> [options]

Live request analytics stored in your own Postgres.

Commands:
${Object.entries(commands)
  .map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`)
  .join('\n')}

Every command takes --database-url URL (or $DATABASE_URL) and --help.

Exit codes: 0 ok, 1 failure, 2 usage error, 3 Postgres unreachable, 4 migrations missing.`;

/** Runs the CLI and returns the process exit code. */
export async function runCli(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(mainHelp);
    return name ? exitCodes.ok : exitCodes.usage;
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
      console.error(`pgpulse ${name}: ${(error as Error).message} (see pgpulse ${name} --help)`);
      return exitCodes.usage;
    }
    console.error(`pgpulse ${name}: ${(error as Error).stack ?? String(error)}`);
    return exitCodes.failure;
  }
}
