import { resolveCaptureOptions, type CaptureOptions } from '../../src/capture/capture-options.js';
import type { DeriveContext } from '../../src/capture/derive-log.js';
import { Sessions } from '../../src/capture/sessions.js';
import { VisitorIds } from '../../src/capture/visitor-ids.js';

/**
 * The capture batch's context for calling `deriveLog` directly: the resolved
 * `options`, node `n1`, fresh visitor ids and sessions, and drop/reject
 * callbacks that do nothing unless `overrides` replaces them.
 */
export function deriveContext(options: CaptureOptions = {}, overrides: Partial<DeriveContext> = {}): DeriveContext {
  return {
    ...resolveCaptureOptions(options).context,
    nodeId: 'n1',
    visitorIds: new VisitorIds(undefined),
    sessions: new Sessions(),
    dropAttributes: () => undefined,
    rejectRefererHost: () => undefined,
    dropConsumer: () => undefined,
    dropError: () => undefined,
    redactFailed: () => undefined,
    ...overrides,
  };
}
