/** Path part of a request target, for the ignore rules (no decoding, no copy when there is no query or fragment). */
export function targetPath(url: string | undefined): string {
  if (!url) return '/';
  const q = url.indexOf('?');
  const h = url.indexOf('#');
  const end = q < 0 ? h : h < 0 ? q : Math.min(q, h);
  return end < 0 ? url : url.slice(0, end) || '/';
}
