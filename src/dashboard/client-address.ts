import type { IncomingMessage } from 'node:http';
import { clientIp } from '../capture/client-ip.js';
import type { TrustFunction } from '../capture/trust-proxy.js';
import { isLoopbackAddress } from './loopback.js';

/**
 * Who sent a dashboard request and how, under the proxy trust in force: the
 * dashboard's own `trustProxy` when set, else the framework's own answer
 * (Express's `req.ip`/`req.secure` under its `trust proxy`; the Fastify
 * adapter copies `request.ip`/`request.protocol` there), else the socket.
 */
export interface ClientView {
  /** The client address the failed-attempt throttle is keyed by. */
  address: string;
  /** Whether the client reached the app over HTTPS (TLS here, or a trusted proxy's `X-Forwarded-Proto: https`). */
  https: boolean;
}

interface FrameworkRequest {
  ip?: unknown;
  secure?: unknown;
}

// eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- a destroyed request's socket may be gone
const peerOf = (req: IncomingMessage): string | undefined => req.socket?.remoteAddress;

/** How the request's client is seen with `trust` (undefined: the framework's own view, else no proxy trusted). */
export function clientView(req: IncomingMessage, trust: TrustFunction | undefined): ClientView {
  const peer = peerOf(req);
  const tls = Boolean((req.socket as { encrypted?: boolean } | undefined)?.encrypted);
  if (trust === undefined) {
    const framework = req as FrameworkRequest;
    return {
      address: typeof framework.ip === 'string' && framework.ip ? framework.ip : (peer ?? 'unknown'),
      https: tls || framework.secure === true,
    };
  }
  const address = clientIp(req.headers['x-forwarded-for'], peer, trust) ?? 'unknown';
  // As Express reads it: the first X-Forwarded-Proto value, when the socket peer is a trusted proxy.
  const proto = first(req.headers['x-forwarded-proto'])?.split(',')[0]?.trim().toLowerCase();
  return { address, https: tls || (peer !== undefined && trust(peer, 0) && proto === 'https') };
}

/** Addresses named by forwarding headers (`X-Forwarded-For`, `X-Real-IP`, `Forwarded: for=`); `null` when one cannot be read. */
function forwardedAddresses(req: IncomingMessage): string[] | null {
  const addresses: string[] = [];
  for (const name of ['x-forwarded-for', 'x-real-ip'] as const) {
    const value = req.headers[name];
    if (value !== undefined) addresses.push(...(Array.isArray(value) ? value.join(',') : value).split(','));
  }
  const forwarded = req.headers.forwarded;
  if (forwarded !== undefined) {
    for (const match of forwarded.matchAll(/(?:^|[;,\s])for\s*=\s*("?)([^;,"]*)\1/gi)) addresses.push(match[2]!);
    if (/for\s*=/i.test(forwarded) && addresses.length === 0) return null;
  }
  return addresses.map((address) =>
    address
      .trim()
      .replace(/^\[([^\]]*)\](?::\d+)?$/, '$1')
      .replace(/^(\d+\.\d+\.\d+\.\d+):\d+$/, '$1'),
  );
}

/**
 * Whether a request comes from this machine, and only from it: the socket
 * peer is loopback and every address a proxy added on the way is loopback
 * too. A proxy on this machine forwarding a remote client (which adds the
 * client to `X-Forwarded-For`) is not local, whatever proxy trust is set.
 */
export function isLocalRequest(req: IncomingMessage): boolean {
  if (!isLoopbackAddress(peerOf(req))) return false;
  const forwarded = forwardedAddresses(req);
  return forwarded !== null && forwarded.every((address) => isLoopbackAddress(address) || address.toLowerCase() === 'localhost');
}

/**
 * Whether the `Host` a browser asked for names this machine (`localhost`,
 * `*.localhost`, 127.x, `[::1]`). A tokenless dashboard answers nothing else,
 * so a page on another site cannot read it through DNS rebinding (its name
 * pointed at 127.0.0.1).
 */
export function isLoopbackHost(host: string | undefined): boolean {
  if (!host) return true;
  const name = host
    .toLowerCase()
    .replace(/:\d*$/, '')
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/\.$/, '');
  return name === 'localhost' || name.endsWith('.localhost') || isLoopbackAddress(name);
}

/**
 * Whether a state-changing request (login, logout) was sent by another site:
 * Fetch Metadata (`Sec-Fetch-Site`, sent by every current browser) other than
 * `same-origin`/`none`, else an `Origin` whose host is not the request's
 * `Host`. Requests with neither (curl, API clients) are not cross-site: a
 * browser always sends one of them on a cross-site POST.
 */
export function isCrossSite(req: IncomingMessage): boolean {
  const site = first(req.headers['sec-fetch-site'])?.toLowerCase();
  if (site !== undefined) return site !== 'same-origin' && site !== 'none';
  const origin = first(req.headers.origin);
  if (origin === undefined) return false;
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    return true; // `null` (sandboxed frames, privacy-sensitive redirects) or garbage
  }
  return host === '' || host.toLowerCase() !== (req.headers.host ?? '').toLowerCase();
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
