#!/usr/bin/env node
// The package.json that goes into the tarball, without the scripts that only
// a clone needs. npm 11 warns about every dependency that has install-time
// scripts (preinstall, install, postinstall, and prepare for non-registry
// dependencies such as a tarball), even though npm never runs a tarball's
// `prepare`. pgpulse's `prepare` builds dist/ in a git checkout (`npm install`
// in a clone, or a git dependency); a packed pgpulse already contains dist/.
//
//   node scripts/pack-manifest.mjs strip     (prepack: after the build)
//   node scripts/pack-manifest.mjs restore   (postpack)
//
// `strip` keeps the exact bytes of package.json in package.json.pack-backup;
// `restore` puts them back. A backup left by an interrupted pack is restored
// before stripping again, so package.json never loses its scripts for good.
import { existsSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Scripts npm counts as install scripts of a dependency; none may reach the tarball. */
export const INSTALL_SCRIPTS = ['preinstall', 'install', 'postinstall', 'prepare'];

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const manifestPath = join(root, 'package.json');
const backupPath = join(root, 'package.json.pack-backup');

async function restore() {
  if (existsSync(backupPath)) await rename(backupPath, manifestPath);
}

async function strip() {
  await restore();
  const original = await readFile(manifestPath, 'utf8');
  const manifest = JSON.parse(original);
  const scripts = Object.fromEntries(Object.entries(manifest.scripts ?? {}).filter(([name]) => !INSTALL_SCRIPTS.includes(name)));
  await writeFile(backupPath, original);
  await writeFile(manifestPath, `${JSON.stringify({ ...manifest, scripts }, null, 2)}\n`);
}

// Run as a script (check-package.mjs imports INSTALL_SCRIPTS only).
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const command = process.argv[2];
  if (command === 'strip') await strip();
  else if (command === 'restore') await restore();
  else {
    console.error('usage: node scripts/pack-manifest.mjs strip|restore');
    process.exitCode = 2;
  }
}
