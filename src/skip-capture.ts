/**
 * Requests (a node `IncomingMessage` or a web `Request`) that capture must not
 * record. The dashboard marks every request it serves, so its own page, API
 * calls and stream are never recorded, whatever the mount order: capture
 * checks the mark when the response ends, after the dashboard handled it.
 */
const skipped = new WeakSet<object>();

/** Marks a request so no pgpulse capture middleware records it. */
export function skipCapture(request: object | null | undefined): void {
  if (request) skipped.add(request);
}

/** Whether {@link skipCapture} marked this request. */
export function captureSkipped(request: object | null | undefined): boolean {
  return !!request && skipped.has(request);
}
