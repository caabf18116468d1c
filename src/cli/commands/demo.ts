import { CliError, exitCodes } from '../exit-codes.js';

export async function demoCommand(_argv: string[]): Promise<number> {
  throw new CliError('pgpulse demo: not implemented yet', exitCodes.failure);
}
