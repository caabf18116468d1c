import { CliError, exitCodes } from '../exit-codes.js';

export async function dashboardCommand(_argv: string[]): Promise<number> {
  throw new CliError('pgpulse dashboard: not implemented yet', exitCodes.failure);
}
