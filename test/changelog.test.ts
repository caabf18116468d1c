import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../', import.meta.url));

/**
 * CHANGELOG.md (Keep a Changelog) stays in step with what ships: every
 * migration file is listed under the version that adds it, the package's
 * version has its section, and each version heading has its link.
 */
describe('CHANGELOG.md', () => {
  it('lists every migration, has a section and a link for the package version, and an Unreleased section', async () => {
    const changelog = await readFile(`${root}CHANGELOG.md`, 'utf8');
    const { version } = JSON.parse(await readFile(`${root}package.json`, 'utf8')) as { version: string };
    const migrations = (await readdir(`${root}migrations`)).filter((f) => f.endsWith('.sql'));
    expect(migrations.length).toBeGreaterThan(0);
    const missing = migrations.filter((file) => !changelog.includes(`\`${file}\``));
    expect(missing, 'migrations not named in CHANGELOG.md').toEqual([]);
    expect(changelog).toContain('## [Unreleased]');
    expect(changelog).toContain(`## [${version}]`);
    const headings = [...changelog.matchAll(/^## \[([^\]]+)\]/gm)].map((m) => m[1]!);
    for (const heading of headings) expect(changelog, `link for [${heading}]`).toMatch(new RegExp(`^\\[${heading.replace(/\./g, '\\.')}\\]: https://`, 'm'));
    // Each released version says what an upgrade to it involves.
    const sections = changelog.split(/^## /m).filter((s) => s.startsWith('['));
    for (const section of sections.filter((s) => !s.startsWith('[0.1.0]'))) expect(section).toContain('### Upgrade notes');
  });

  it('ships in the package', async () => {
    const { files } = JSON.parse(await readFile(`${root}package.json`, 'utf8')) as { files: string[] };
    expect(files).toContain('CHANGELOG.md');
  });
});
