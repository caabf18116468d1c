import { createHash, randomUUID } from 'node:crypto';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { refererParts } from '../capture/referer.js';
import { userAgentInfo } from '../capture/user-agent-info.js';
import type { Pulse } from '../create-pulse.js';
import { completeRequestLog, type RequestLog } from '../schema/request-log.js';
import { sampleOutcome } from './sample-app.js';
import {
  countries,
  demoAttributes,
  demoConsumers,
  experimentArms,
  pick,
  randomPath,
  randomReferrer,
  randomUserAgent,
  trafficShape,
} from './synthetic-traffic.js';

export interface BackfillOptions {
  /** How far back the synthetic history reaches, in minutes. */
  minutes: number;
  /** Average requests per second in that history. */
  ratePerSecond: number;
  /** Rows handed to the writer before waiting for them to commit (stays under `maxBufferedRows`). Default 5,000 rows. */
  chunkRows?: number;
  /** Stops early (rows already handed over are still written). */
  signal?: AbortSignal;
  /** Base URL of the app: a quarter of the referrers are then links within it. Default none. */
  appUrl?: string;
}

const hash = (text: string) => createHash('sha256').update(text).digest('base64url').slice(0, 22);

/** One synthetic row as the sample app would have produced it at `at`. */
function historicRow(
  at: Date,
  visitor: { ua: string; n: number; country: string; experiment: string },
  nodeId: string,
  appUrl: string | undefined,
): RequestLog {
  const path = randomPath().split('?')[0]!;
  const outcome = sampleOutcome(path);
  const referer = refererParts(randomReferrer(appUrl), false, 2048);
  const agent = userAgentInfo(visitor.ua);
  const consumer = path.startsWith('/api/') ? pick(demoConsumers) : null;
  return completeRequestLog({
    consumer_id: consumer?.id ?? null,
    consumer_name: consumer?.name ?? null,
    consumer_group: consumer?.group ?? null,
    attributes: demoAttributes(visitor.experiment, consumer?.group),
    request_id: randomUUID(),
    method: 'GET',
    path,
    route: outcome.route,
    status_code: outcome.statusCode,
    duration_ms: outcome.statusCode === 404 ? 0.2 + Math.random() : outcome.delayMs,
    response_bytes: outcome.statusCode === 200 ? 80 + Math.floor(Math.random() * 120) : 21,
    user_agent: visitor.ua,
    referer: referer.referer,
    referer_host: referer.referer_host,
    device_type: agent.device_type,
    browser: agent.browser,
    os: agent.os,
    country: visitor.country,
    visitor_id: hash(`demo-visitor-${visitor.n}-${at.toISOString().slice(0, 10)}`),
    session_id: hash(`demo-session-${visitor.n}-${at.toISOString().slice(0, 13)}`),
    node_id: nodeId,
    inserted_at: at,
  });
}

/**
 * Writes synthetic history (rows with past timestamps, straight to the writer,
 * not broadcast live) so the demo's charts have a past to show. Returns the
 * number of rows handed to the writer.
 */
export async function backfillHistory(pulse: Pulse, options: BackfillOptions): Promise<number> {
  const writer = pulse.writer;
  if (!writer || options.minutes <= 0 || options.ratePerSecond <= 0) return 0;
  const visitors = Array.from({ length: 400 }, (_, n) => ({ ua: randomUserAgent(), n, country: pick(countries), experiment: pick(experimentArms) }));
  const chunkRows = options.chunkRows ?? 5_000;
  const now = Date.now();
  let rows = 0;
  let pending = 0;
  // Newest first: the charts fill backwards from the live edge, without a gap.
  for (let second = 1; second <= options.minutes * 60 && !options.signal?.aborted; second++) {
    // Slower, larger swings than live traffic, so the past looks like a day's ups and downs.
    const expected = options.ratePerSecond * trafficShape(second / 8) * (0.75 + 0.25 * Math.sin(second / 900));
    const count = Math.floor(expected) + (Math.random() < expected % 1 ? 1 : 0);
    for (let i = 0; i < count; i++) {
      writer.add(historicRow(new Date(now - second * 1000 + Math.floor(Math.random() * 1000)), pick(visitors), pulse.nodeId, options.appUrl));
    }
    pending += count;
    // Generating rows is CPU work: let the live app and the dashboard answer in between.
    if (second % 30 === 0) await yieldToEventLoop();
    if (pending >= chunkRows) {
      await pulse.flush(options.signal).catch(() => undefined);
      rows += pending;
      pending = 0;
    }
  }
  await pulse.flush(options.signal).catch(() => undefined);
  return rows + pending;
}
