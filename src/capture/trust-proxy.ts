import proxyaddr from 'proxy-addr';
import { errorMessage } from '../shared/describe-error.js';

/**
 * Which proxies in front of the app may set `X-Forwarded-For`, with Express's
 * `trust proxy` semantics: `true` trusts every hop (only when the app is
 * reachable solely through your proxy), a number trusts that many hops
 * nearest the app, a string (comma-separated) or array lists addresses,
 * CIDR ranges or the names `loopback`, `linklocal` and `uniquelocal`, and a
 * function `(address, hopIndex) => boolean` decides per hop.
 */
export type TrustProxy = boolean | number | string | readonly string[] | ((address: string, hopIndex: number) => boolean);

/** A compiled {@link TrustProxy}: whether the hop at `hopIndex` (0 = the socket peer) is a trusted proxy. */
export type TrustFunction = (address: string, hopIndex: number) => boolean;

/** Trusts no proxy: the socket peer is the client. */
export const trustNone: TrustFunction = () => false;

/**
 * Compiles a {@link TrustProxy} setting the way Express compiles `trust proxy`.
 * Throws a precise error for an invalid address or range.
 */
export function compileTrustProxy(value: TrustProxy | undefined): TrustFunction {
  if (value === undefined || value === false) return trustNone;
  if (typeof value === 'function') return value;
  if (value === true) return () => true;
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 0) throw new RangeError(`pgpulse: trustProxy as a hop count must be a whole number ≥ 0, got ${value}`);
    return value === 0 ? trustNone : (_address, hopIndex) => hopIndex < value;
  }
  const list =
    typeof value === 'string'
      ? value
          .split(',')
          .map((entry) => entry.trim())
          .filter(Boolean)
      : [...value];
  try {
    return proxyaddr.compile(list);
  } catch (error) {
    throw new TypeError(`pgpulse: invalid trustProxy ${JSON.stringify(value)}: ${errorMessage(error)}`, { cause: error });
  }
}
