/** Chart bucket sizes, in seconds, from finest to coarsest. */
const BUCKETS = [10, 60, 300, 900, 3_600, 7_200, 21_600, 86_400] as const;

/** Bucket size (seconds) giving at most about `maxPoints` points over the range. */
export function bucketSeconds(from: Date, to: Date, maxPoints = 120): number {
  const seconds = (to.getTime() - from.getTime()) / 1000;
  for (const size of BUCKETS) if (seconds / size <= maxPoints) return size;
  return 86_400;
}
