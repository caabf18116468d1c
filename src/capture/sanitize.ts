/**
 * Makes header- and URL-derived text safe to store: NUL characters (which
 * Postgres text rejects) become U+FFFD and the text is cut at `maxLength`
 * characters. Returns null for missing or empty values.
 */
export function sanitizeText(value: unknown, maxLength: number): string | null {
  if (value === undefined || value === null) return null;
  // Header values are strings (or numbers); anything else is stored in its String() form.
  // eslint-disable-next-line @typescript-eslint/no-base-to-string
  let text = Array.isArray(value) ? String(value[0] ?? '') : String(value);
  if (text === '') return null;
  if (text.length > maxLength) text = text.slice(0, maxLength);
  if (text.includes('\u0000')) text = text.replaceAll('\u0000', '\uFFFD');
  return text;
}

/** Path part of a request URL, without query string or fragment; `/` when empty. */
export function pathOf(url: string | undefined, maxLength: number): string {
  if (!url) return '/';
  let end = url.length;
  const q = url.indexOf('?');
  if (q >= 0) end = q;
  const h = url.indexOf('#');
  if (h >= 0 && h < end) end = h;
  return sanitizeText(url.slice(0, end), maxLength) || '/';
}
