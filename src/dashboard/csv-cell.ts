/**
 * The one CSV rule of pgpulse, used by `GET /api/export` and, through
 * {@link csvCellScript}, by the page's per-panel CSV buttons, so the two can
 * never differ.
 *
 * `csvCell` is served to the browser as its own source text (`toString()`),
 * so it must stay self-contained: no imports, no module-level names, no
 * nested functions.
 */

/**
 * One CSV cell (RFC 4180). Text starting with `=`, `+`, `-`, `@`, a tab or a
 * carriage return gets a leading `'` so spreadsheets never run it as a
 * formula (OWASP's CSV injection rule); cells with a comma, quote or line
 * break are quoted.
 */
export function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  let text = typeof value === 'string' ? value : JSON.stringify(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** `GET /csv-cell.js`: {@link csvCell} for the page, as `window.pgpulseCsvCell`. */
export const csvCellScript = `// Served from pgpulse's src/dashboard/csv-cell.ts: the CSV rule of /api/export.\nwindow.pgpulseCsvCell = ${csvCell.toString()};\n`;
