/**
 * Client address of a request. With `trustProxy`, the left-most address of
 * `X-Forwarded-For` counts (set it only behind a proxy you run, otherwise
 * clients can choose their own visitor id); without, the socket's peer address.
 */
export function clientIp(forwardedFor: string | string[] | undefined | null, remoteAddress: string | undefined | null, trustProxy: boolean): string | null {
  if (trustProxy && forwardedFor) {
    const header = Array.isArray(forwardedFor) ? forwardedFor[0] : forwardedFor;
    const first = header?.split(',')[0]?.trim();
    if (first) return normalise(first.slice(0, 64));
  }
  return remoteAddress ? normalise(remoteAddress) : null;
}

function normalise(ip: string): string {
  return ip.startsWith('::ffff:') ? ip.slice(7) : ip;
}
