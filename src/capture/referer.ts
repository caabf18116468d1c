import { isIPv6 } from 'node:net';
import { domainToASCII } from 'node:url';
import { sanitizeText } from './sanitize.js';

/** The referer as stored, and its host for grouping. */
export interface RefererParts {
  referer: string | null;
  /** Lower-case host of an absolute referer (no port; punycode; IPv6 in brackets); null otherwise. */
  referer_host: string | null;
  /** The authority text of an absolute referer whose host is not a host name or IP literal (then `referer_host` is null). */
  rejectedHost?: string;
}

const NONE: RefererParts = Object.freeze({ referer: null, referer_host: null });
const ABSOLUTE = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i;
/** A DNS name in ASCII: labels of letters, digits, `-` and `_` (not starting or ending with `-`), 1–63 characters each. */
const HOST_NAME = /^(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;
/** Longest raw host looked at; a longer one cannot become a valid name of ≤ 253 characters. */
const MAX_RAW_HOST = 1_024;

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
  const authority = ABSOLUTE.exec(referer)?.[1];
  if (!authority) return { referer: referer || null, referer_host: null };
  const host = refererHost(authority);
  return host === null ? { referer, referer_host: null, rejectedHost: authority.slice(0, 80) } : { referer, referer_host: host };
}

/**
 * The host of a referer's authority (`user@host:port`), as a browser would
 * send it: a lower-case, punycode (WHATWG `domainToASCII`) DNS name or an
 * IP literal; null for anything else (`=1+2a`, `cmd|'`, empty), which would
 * otherwise show up as a "referrer" in panels and CSV files.
 */
export function refererHost(authority: string): string | null {
  // user:password@, a port and brackets add little: a longer authority holds no valid host, and is not scanned.
  if (authority.length > 2 * MAX_RAW_HOST) return null;
  const hostPort = authority.slice(authority.lastIndexOf('@') + 1);
  if (hostPort.startsWith('[')) {
    const end = hostPort.indexOf(']');
    const inner = hostPort.slice(1, end);
    if (end < 0 || !/^(?::\d*)?$/.test(hostPort.slice(end + 1)) || !isIPv6(inner)) return null;
    return `[${inner.toLowerCase()}]`;
  }
  const raw = hostPort.replace(/:\d*$/, '').replace(/\.$/, '');
  if (!raw || raw.length > MAX_RAW_HOST) return null;
  const ascii = domainToASCII(raw);
  return ascii.length <= 253 && HOST_NAME.test(ascii) ? ascii : null;
}
