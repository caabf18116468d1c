/**
 * `parseArgs` for pgpulse's commands, strict, with one difference: a value
 * that starts with a dash and a digit (`--port -1`, `--rate -.5`) is taken as
 * the option's value, so the command's own check says what is wrong with it,
 * instead of parseArgs' "argument is ambiguous".
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;

/** `--name -1` → `--name=-1` for the string options among `options`. */
function joinNegativeValues(argv: readonly string[], options: Options): string[] {
  const joined: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const next = argv[i + 1];
    const name = arg.startsWith('--') && !arg.includes('=') ? arg.slice(2) : undefined;
    if (name !== undefined && options[name]?.type === 'string' && next !== undefined && /^-[\d.]/.test(next)) {
      joined.push(`${arg}=${next}`);
      i++;
    } else joined.push(arg);
  }
  return joined;
}

/** What {@link parseCommandArgs} returns: parseArgs' typed values for `T`. */
export type ParsedCommandArgs<T extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: T; strict: true }>>;

/** Parses a command's arguments (strict: unknown options and positionals throw parseArgs' errors). */
export function parseCommandArgs<const T extends Options>(argv: readonly string[], options: T): ParsedCommandArgs<T> {
  return parseArgs({ args: joinNegativeValues(argv, options), options, strict: true });
}
