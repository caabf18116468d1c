import type { IncomingMessage } from 'node:http';
import proxyaddr from 'proxy-addr';
import { trustNone, type TrustFunction } from './trust-proxy.js';

/** Longest address kept, in characters (an IPv6 address with zone fits). */
const MAX_IP_LENGTH = 64;
/** Hops of `X-Forwarded-For` looked at, from the right; no real proxy chain is longer, and a 16 KB forged header then costs no more than a short one. */
export const MAX_FORWARDED_HOPS = 32;

/**
 * Client address of a request, with Express's semantics (the `proxy-addr`
 * package): `X-Forwarded-For` is walked from the right, starting at the socket
 * peer, and each hop counts only while the one before it is trusted. Entries a
 * client forged on the left are never reached unless every proxy on the way is
 * trusted. Without a trusted proxy, the socket peer is the client.
 */
export function clientIp(
  forwardedFor: string | readonly string[] | undefined | null,
  remoteAddress: string | undefined | null,
  trust: TrustFunction = trustNone,
): string | null {
  if (!remoteAddress) return null;
  if (trust === trustNone || !forwardedFor) return normalise(remoteAddress);
  const header = lastHops(typeof forwardedFor === 'string' ? forwardedFor : forwardedFor.join(','));
  const request = { headers: { 'x-forwarded-for': header }, connection: { remoteAddress }, socket: { remoteAddress } };
  const address = proxyaddr(request as unknown as IncomingMessage, trust);
  return address ? normalise(address) : normalise(remoteAddress);
}

/** The last {@link MAX_FORWARDED_HOPS} entries of an `X-Forwarded-For` value (all of it when shorter). */
function lastHops(header: string): string {
  let cut = header.length;
  for (let hops = 0; hops < MAX_FORWARDED_HOPS; hops++) {
    cut = header.lastIndexOf(',', cut - 1);
    if (cut < 0) return header;
  }
  return header.slice(cut + 1);
}

function normalise(ip: string): string {
  const address = ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
  return address.length > MAX_IP_LENGTH ? address.slice(0, MAX_IP_LENGTH) : address;
}
