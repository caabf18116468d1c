/**
 * pgpulse's public types must compile in an app without its optional peer
 * dependencies (prom-client, `@opentelemetry/api`). Only the internal loaders,
 * whose types never reach a public declaration, and the framework adapters
 * (whose subpath an app imports only with its framework) may import them.
 * `npm run check:package` compiles a strict app (skipLibCheck off, NodeNext)
 * against the packed tarball with exactly the required dependencies; this is
 * the quick check of the sources behind it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  peerDependencies: Record<string, string>;
  peerDependenciesMeta: Record<string, { optional?: boolean }>;
};

/** Files allowed to import an optional peer, and which. */
const allowed: Record<string, readonly string[]> = {
  'src/metrics/prom-client.ts': ['prom-client'],
  'src/metrics/pgpulse-metrics.ts': ['prom-client'], // a type used only by private fields (not emitted)
  'src/metrics/http-metrics.ts': ['prom-client', '@opentelemetry/api'], // types of private fields only
  'src/shared/open-telemetry.ts': ['@opentelemetry/api'],
  'src/adapters/fastify.ts': ['fastify'],
  'src/adapters/fastify-dashboard.ts': ['fastify'],
  'src/adapters/hono.ts': ['hono', '@hono/node-server'],
  'src/adapters/hono-dashboard.ts': ['hono', '@hono/node-server'],
};

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? sources(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
  );
}

it('only the optional-dependency loaders and the framework adapters import optional peer dependencies', () => {
  const optional = Object.keys(manifest.peerDependencies).filter((name) => manifest.peerDependenciesMeta[name]?.optional && name !== '@types/pg');
  const found: string[] = [];
  for (const file of sources(join(root, 'src'))) {
    const path = relative(root, file).split('\\').join('/');
    for (const { fileName } of ts.preProcessFile(readFileSync(file, 'utf8'), true, true).importedFiles) {
      const name = fileName.startsWith('@') ? fileName.split('/').slice(0, 2).join('/') : fileName.split('/')[0]!;
      if (optional.includes(name) && !(allowed[path] ?? []).includes(name)) found.push(`${path} imports ${fileName}`);
    }
  }
  expect(found).toEqual([]);
});

it('the loaders are not re-exported by a public entry', () => {
  const index = ['src/index.ts', 'src/dashboard/index.ts', 'src/listen/index.ts'].map((file) => readFileSync(join(root, file), 'utf8')).join('\n');
  expect(index).not.toMatch(/prom-client\.js|open-telemetry\.js/);
});
