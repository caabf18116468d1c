import { CliError, exitCodes } from '../exit-codes.js';

export async function tailCommand(_argv: string[]): Promise<number> {
  throw new CliError('pgpulse tail: not implemented yet', exitCodes.failure);
}
