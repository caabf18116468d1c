import { listenTransports, type ListenTransportName } from '../listen/listener-options.js';
import { CliError, exitCodes } from './exit-codes.js';

/** Help text of `--transport`, shared by `pgpulse tail` and `pgpulse dashboard`. */
export const transportHelp = `  --transport notify|wal      how rows arrive: the writers' NOTIFY bridge (default), or
                             logical replication of the table (wal_level=logical and a
                             role with REPLICATION; writers then need no --notify)`;

/** `parseArgs` options of the commands fed by a listener (`pgpulse tail`, `pgpulse dashboard`): where and how rows arrive. */
export const listenerArgOptions = {
  'database-url': { type: 'string' },
  'listen-database-url': { type: 'string' },
  transport: { type: 'string' },
  channel: { type: 'string' },
} as const;

/** The `--transport` value; exit code 2 (usage) when it is not one of {@link listenTransports}. */
export function parseTransport(value: string | undefined, command: string): ListenTransportName {
  if (value === undefined) return 'notify';
  if ((listenTransports as readonly string[]).includes(value)) return value as ListenTransportName;
  throw new CliError(`pgpulse ${command}: --transport must be one of ${listenTransports.join(', ')}, not ${JSON.stringify(value)}`, exitCodes.usage);
}
