import { randomUUID } from 'node:crypto';
import { completeRequestLog, type RequestLog } from '../../src/schema/request-log.js';

/** A valid RequestLog with overrides. */
export function makeLog(overrides: Partial<RequestLog> = {}): RequestLog {
  return completeRequestLog({
    request_id: randomUUID(),
    method: 'GET',
    path: '/users/42',
    route: '/users/:id',
    status_code: 200,
    duration_ms: 3.5,
    response_bytes: 120,
    user_agent: 'Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0',
    referer: null,
    device_type: 'desktop',
    visitor_id: 'v1',
    session_id: 's1',
    node_id: 'test-node',
    inserted_at: new Date(),
    ...overrides,
  });
}

/** Polls `check` until it returns true or `timeoutMs` passes. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
