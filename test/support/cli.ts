import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The CLI as built (`dist/`, kept fresh by the global setup's `ensureFreshBuild`): what `pgpulse` runs for users. */
export const cliMain = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Starts `pgpulse <args>` (the build in `dist/`). */
export function spawnCli(args: string[], env: Record<string, string | undefined> = {}): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, [cliMain, ...args], { env: { ...process.env, DATABASE_URL: '', PGPULSE_TOKEN: '', ...env } });
}

/** Collects a running CLI's output until it exits. */
export function collect(child: ChildProcessWithoutNullStreams): Promise<CliResult> & { output: () => string } {
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<CliResult>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return Object.assign(done, { output: () => stdout + stderr });
}

/** Runs `pgpulse <args>` to completion. */
export function runCli(args: string[], env: Record<string, string | undefined> = {}): Promise<CliResult> {
  return collect(spawnCli(args, env));
}

/** Waits until the output matches. */
export async function waitForOutput(result: { output: () => string }, pattern: RegExp, timeoutMs = 60_000): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const match = pattern.exec(result.output());
    if (match) return match;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern} in:\n${result.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
