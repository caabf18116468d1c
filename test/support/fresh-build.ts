import { execFile } from 'node:child_process';
import { lstat, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** Newest (`pick` = max) or oldest (min) modification time of the files under `dir` ending in `suffix`; undefined when none. */
async function mtimeOf(dir: string, suffix: string, pick: (a: number, b: number) => number): Promise<number | undefined> {
  let found: number | undefined;
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => [])) {
    if (!entry.isFile() || !entry.name.endsWith(suffix)) continue;
    const time = (await stat(join(entry.parentPath, entry.name))).mtimeMs;
    found = found === undefined ? time : pick(found, time);
  }
  return found;
}

/**
 * Tests that start pgpulse as a process (the CLI, `pgpulse demo`, `pgpulse
 * tail`) run the build in `dist/`, as users do, rather than the sources
 * through tsx (about 1 s of CPU less per process). `npm install` builds it;
 * when a source is newer than the build, this rebuilds it first (tsc, about
 * 20 s), so a test never runs stale code. A `dist` that is a symlink (a git
 * worktree sharing another's build) is left alone, with a warning.
 */
export async function ensureFreshBuild(): Promise<void> {
  const newestSource = await mtimeOf(join(root, 'src'), '.ts', Math.max);
  const oldestBuilt = await mtimeOf(join(root, 'dist'), '.js', Math.min);
  if (newestSource === undefined || (oldestBuilt !== undefined && oldestBuilt >= newestSource)) return;
  if ((await lstat(join(root, 'dist')).catch(() => undefined))?.isSymbolicLink()) {
    console.warn('[pgpulse tests] dist/ is a symlink older than src/: tests that spawn the CLI run that older build');
    return;
  }
  console.log('[pgpulse tests] dist/ is older than src/ (or missing): building it for the tests that spawn the CLI');
  await promisify(execFile)(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: root });
}
