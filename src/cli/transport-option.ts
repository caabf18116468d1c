import { listenTransports, type ListenTransportName } from '../listen/listener-options.js';
import { CliError, exitCodes } from './exit-codes.js';

/** Help text of `--transport`, shared by `pgpulse tail` and `pgpulse dashboard`. */
export const transportHelp = `  --transport notify|wal      how rows arrive: the writers' NOTIFY bridge (default), or
                             logical replication of the table (wal_level=logical and a
                             role with REPLICATION; writers then need no --notify)`;

/** The `--transport` value; exit code 2 (usage) when it is not one of {@link listenTransports}. */
export function parseTransport(value: string | undefined, command: string): ListenTransportName {
  if (value === undefined) return 'notify';
  if ((listenTransports as readonly string[]).includes(value)) return value as ListenTransportName;
  throw new CliError(`pgpulse ${command}: --transport must be one of ${listenTransports.join(', ')}, not ${JSON.stringify(value)}`, exitCodes.usage);
}
