import { setTimeout as sleep } from 'node:timers/promises';

/** How a listener retries: exponential backoff between `minMs` and `maxMs`, until `signal` aborts. */
export interface RetryPolicy {
  signal: AbortSignal;
  minMs: number;
  maxMs: number;
}

/** Delay before attempt `attempt + 1`: `minMs · 2^(attempt−1)`, at most `maxMs`. */
export function backoffMs(policy: RetryPolicy, attempt: number): number {
  return Math.min(policy.maxMs, policy.minMs * 2 ** Math.min(attempt - 1, 20));
}

/**
 * Runs `query` until it succeeds, telling `onFailure` of each failure and the
 * delay before the next try (jittered ±25%); undefined once `signal` aborts.
 */
export async function retryUntilClosed<T>(
  policy: RetryPolicy,
  query: () => Promise<T>,
  onFailure: (error: unknown, retryInMs: number) => void,
): Promise<T | undefined> {
  for (let attempt = 1; !policy.signal.aborted; attempt++) {
    try {
      return await query();
    } catch (error) {
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- close() may have aborted during the query
      if (policy.signal.aborted) return undefined;
      const retryInMs = backoffMs(policy, attempt);
      onFailure(error, retryInMs);
      try {
        await sleep(retryInMs * (0.75 + Math.random() * 0.5), undefined, { signal: policy.signal, ref: false });
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}
