import proxyaddr from 'proxy-addr';
import { z } from 'zod';
import { errorMessage } from '../shared/describe-error.js';
import { parseOption } from '../shared/option-schema.js';

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

/** A hop count: that many hops nearest the app are trusted proxies. */
const hopCountSchema = z.number({ error: 'as a hop count must be a whole number ≥ 0' }).int().nonnegative();

/** Addresses, CIDR ranges and names (a comma-separated string or an array), compiled by proxy-addr. */
const proxyListSchema = z
  .union([z.string(), z.array(z.string())], { error: 'must be a boolean, a hop count, addresses or CIDR ranges (a string or an array), or a function' })
  .transform((value, ctx) => {
    const list =
      typeof value === 'string'
        ? value
            .split(',')
            .map((entry) => entry.trim())
            .filter(Boolean)
        : value;
    try {
      return proxyaddr.compile(list);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: `must list addresses, CIDR ranges or loopback, linklocal, uniquelocal (${errorMessage(error)})` });
      return z.NEVER;
    }
  });

/**
 * Compiles a {@link TrustProxy} setting the way Express compiles `trust proxy`.
 * Throws a precise error: a RangeError for a bad hop count, a TypeError for an invalid address or range.
 */
export function compileTrustProxy(value: TrustProxy | undefined): TrustFunction {
  if (value === undefined || value === false) return trustNone;
  if (typeof value === 'function') return value;
  if (value === true) return () => true;
  if (typeof value === 'number') {
    const hops = parseOption('pgpulse', 'trustProxy', hopCountSchema, value);
    return hops === 0 ? trustNone : (_address, hopIndex) => hopIndex < hops;
  }
  return parseOption('pgpulse', 'trustProxy', proxyListSchema, value, TypeError);
}
