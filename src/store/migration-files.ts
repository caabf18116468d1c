import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Directory holding the SQL migrations shipped with the package. */
export const migrationsDir = fileURLToPath(new URL('../../migrations/', import.meta.url));

/**
 * The header line that makes a migration run outside a transaction, one
 * statement at a time (`create index concurrently`, `detach partition …
 * concurrently`, which Postgres refuses inside one). Such a migration must be
 * idempotent statement by statement (`if not exists`): a run interrupted
 * between two statements is run again from the first.
 */
export const noTransactionHeader = '-- pgpulse:no-transaction';

export interface MigrationFile {
  /** File name, e.g. `0020_request_cube.sql`; what `pgpulse.migrations` records. */
  name: string;
  sql: string;
  /** Runs outside a transaction (the {@link noTransactionHeader} line is among its first comment lines). */
  transactional: boolean;
}

function headerLines(text: string): string[] {
  const lines: string[] = [];
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed === '') continue;
    if (!trimmed.startsWith('--')) break;
    lines.push(trimmed);
  }
  return lines;
}

/** The migrations of `dir`, in name order. */
export async function listMigrations(dir: string = migrationsDir): Promise<MigrationFile[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort();
  return Promise.all(
    files.map(async (name) => {
      const text = await readFile(join(dir, name), 'utf8');
      return { name, sql: text, transactional: !headerLines(text).includes(noTransactionHeader) };
    }),
  );
}

/**
 * The statements of a no-transaction migration: split after each `;` that
 * ends a line. Such migrations hold plain statements (no function bodies, no
 * `;` at the end of a line inside a string), which the runner sends one by one.
 */
export function splitStatements(text: string): string[] {
  return text
    .split(/;[ \t]*(?:--[^\n]*)?$/m)
    .map((s) =>
      s
        .split('\n')
        .filter((line) => !line.trim().startsWith('--'))
        .join('\n')
        .trim(),
    )
    .filter((s) => s !== '');
}
