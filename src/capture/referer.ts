import { sanitizeText } from './sanitize.js';

/** The referer as stored, and its host for grouping. */
export interface RefererParts {
  referer: string | null;
  /** Lower-case host name of an absolute http(s) referer (no port); null otherwise. */
  referer_host: string | null;
}

const NONE: RefererParts = Object.freeze({ referer: null, referer_host: null });
const ABSOLUTE = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i;

/**
 * Privacy by default: the query string and fragment of a referer often carry
 * tokens, emails or search terms, so they are cut unless `keepQuery`.
 */
export function refererParts(value: unknown, keepQuery: boolean, maxLength: number): RefererParts {
  let referer = sanitizeText(value, maxLength);
  if (referer === null) return NONE;
  if (!keepQuery) {
    const cut = referer.search(/[?#]/);
    if (cut >= 0) referer = referer.slice(0, cut);
  }
  return { referer: referer || null, referer_host: hostOf(referer) };
}

function hostOf(referer: string): string | null {
  const authority = ABSOLUTE.exec(referer)?.[1];
  if (!authority) return null;
  const hostPort = authority.slice(authority.lastIndexOf('@') + 1);
  const host = hostPort.startsWith('[') ? hostPort.slice(0, hostPort.indexOf(']') + 1) : hostPort.replace(/:\d*$/, '');
  if (!host || host.length > 253) return null;
  return host.toLowerCase().replace(/\.$/, '');
}
