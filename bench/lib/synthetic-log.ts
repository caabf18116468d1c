import type { RequestLog } from '../../dist/schema/request-log.js';

const routes = ['/users/:id', '/products/:id', '/api/orders/:id', '/search', '/'] as const;
const agents = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1',
] as const;

/** A realistic RequestLog; `i` varies path, route, status and latency. */
export function syntheticLog(i: number, nodeId = 'bench', insertedAt = new Date()): RequestLog {
  const route = routes[i % routes.length]!;
  return {
    request_id: `req-${i}`,
    method: i % 10 === 0 ? 'POST' : 'GET',
    path: route.replace(':id', String(i % 10_000)),
    route,
    status_code: i % 50 === 0 ? 500 : i % 17 === 0 ? 404 : 200,
    duration_ms: 1 + (i % 97) * 0.37,
    response_bytes: 200 + (i % 5_000),
    user_agent: agents[i % 2]!,
    referer: i % 3 === 0 ? 'https://www.google.com/' : null,
    device_type: i % 2 ? 'mobile' : 'desktop',
    visitor_id: `v${i % 5_000}`,
    session_id: `s${i % 20_000}`,
    node_id: nodeId,
    ip: null,
    inserted_at: insertedAt,
    referer_host: i % 3 === 0 ? 'www.google.com' : null,
    browser: i % 2 ? 'Safari' : 'Chrome',
    os: i % 2 ? 'iOS' : 'Windows',
    country: i % 4 === 0 ? 'DE' : 'US',
    trace_id: null,
    span_id: null,
    attributes: null,
    consumer_id: null,
    consumer_name: null,
    consumer_group: null,
    error_fingerprint: null,
    error: null,
  };
}
