/**
 * Top lists of high-cardinality keys (`pgpulse.cube_top_keys`): per hour and
 * per UTC day, the {@link TOP_KEYS_PER_BUCKET} keys of each list with the most
 * requests, counted exactly, plus the requests of the rest and the largest
 * count among them. Over a range, a key's count is the sum of its counts in
 * the buckets that kept it; in a bucket that did not keep it, it had at most
 * that bucket's `dropped_max` requests. So every count shown is exact or short
 * by at most the sum of `dropped_max` over the buckets that left it out (the
 * bound the dashboard prints), and a key missing from the list had fewer
 * requests than the last one shown plus that bound.
 */

/** Keys kept per list and bucket. */
export const TOP_KEYS_PER_BUCKET = 200;

/** The lists, each with the key of a raw row in SQL (null: the row is not in the list). */
export const topKeyLists = [
  { name: 'path', rowSql: 'path' },
  { name: 'not_found', rowSql: 'case when status_code = 404 then path end' },
  { name: 'referrer_url', rowSql: 'referer' },
] as const;

export type TopKeyList = (typeof topKeyLists)[number]['name'];
