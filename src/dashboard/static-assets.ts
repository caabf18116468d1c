import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { csvCellScript } from './csv-cell.js';

const require = createRequire(import.meta.url);
const assetsDir = fileURLToPath(new URL('../../assets/dashboard/', import.meta.url));
const uplotDir = join(dirname(require.resolve('uplot/package.json')), 'dist');

/** Files the page needs, by request path. Nothing else is ever read from disk. */
const files: Record<string, { path: string; type: string }> = {
  '/': { path: join(assetsDir, 'index.html'), type: 'text/html; charset=utf-8' },
  '/login.html': { path: join(assetsDir, 'login.html'), type: 'text/html; charset=utf-8' },
  '/app.js': { path: join(assetsDir, 'app.js'), type: 'text/javascript; charset=utf-8' },
  '/alerts.js': { path: join(assetsDir, 'alerts.js'), type: 'text/javascript; charset=utf-8' },
  '/releases.js': { path: join(assetsDir, 'releases.js'), type: 'text/javascript; charset=utf-8' },
  '/style.css': { path: join(assetsDir, 'style.css'), type: 'text/css; charset=utf-8' },
  '/views.css': { path: join(assetsDir, 'views.css'), type: 'text/css; charset=utf-8' },
  '/consumers.js': { path: join(assetsDir, 'consumers.js'), type: 'text/javascript; charset=utf-8' },
  '/attributes.js': { path: join(assetsDir, 'attributes.js'), type: 'text/javascript; charset=utf-8' },
  '/endpoint.js': { path: join(assetsDir, 'endpoint.js'), type: 'text/javascript; charset=utf-8' },
  '/error-detail.js': { path: join(assetsDir, 'error-detail.js'), type: 'text/javascript; charset=utf-8' },
  '/errors.js': { path: join(assetsDir, 'errors.js'), type: 'text/javascript; charset=utf-8' },
  '/errors.css': { path: join(assetsDir, 'errors.css'), type: 'text/css; charset=utf-8' },
  '/request.js': { path: join(assetsDir, 'request.js'), type: 'text/javascript; charset=utf-8' },
  '/vendor/uPlot.iife.min.js': { path: join(uplotDir, 'uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' },
  '/vendor/uPlot.min.css': { path: join(uplotDir, 'uPlot.min.css'), type: 'text/css; charset=utf-8' },
};

/** Files made from pgpulse's own code, so page and server share one rule. */
const generated: Record<string, { body: Buffer; type: string }> = {
  '/csv-cell.js': { body: Buffer.from(csvCellScript), type: 'text/javascript; charset=utf-8' },
};

const cache = new Map<string, Buffer>();

/** The static file served at `path`, or undefined. Read once, then cached. */
export async function staticAsset(path: string): Promise<{ body: Buffer; type: string } | undefined> {
  if (Object.hasOwn(generated, path)) return generated[path];
  const file = Object.hasOwn(files, path) ? files[path] : undefined;
  if (!file) return undefined;
  let body = cache.get(path);
  if (!body) {
    body = await readFile(file.path);
    cache.set(path, body);
  }
  return { body, type: file.type };
}
