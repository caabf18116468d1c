import type { DeviceType } from '../request-log.js';

const BOT = /bot\b|bot\/|crawl|spider|slurp|curl\/|wget\/|python-requests|python-urllib|httpclient|go-http-client|okhttp|java\/|headlesschrome|lighthouse|facebookexternalhit|preview|monitor|uptime|axios\/|node-fetch|undici|postman/i;
const TABLET = /ipad|tablet|kindle|silk\/|playbook|nexus (?:7|9|10)|sm-t\d|(?:android(?!.*mobile))/i;
const MOBILE = /mobi|iphone|ipod|android|windows phone|blackberry|bb10|opera mini|iemobile/i;

const memo = new Map<string, DeviceType>();
/** User agents remembered (a handful of strings make up most traffic). */
const MEMO_SIZE = 2_000;
/** Longer user agents are not remembered, so the memo stays small (≤ 1 MiB). */
const MEMO_MAX_LENGTH = 512;

/** Classifies a user agent as `bot`, `tablet`, `mobile` or `desktop` (the default, also for a missing one). */
export function detectDeviceType(userAgent: string | null | undefined): DeviceType {
  if (!userAgent) return 'desktop';
  if (userAgent.length > MEMO_MAX_LENGTH) return classify(userAgent);
  let type = memo.get(userAgent);
  if (type === undefined) {
    type = classify(userAgent);
    if (memo.size >= MEMO_SIZE) memo.clear();
    memo.set(userAgent, type);
  }
  return type;
}

function classify(userAgent: string): DeviceType {
  if (BOT.test(userAgent)) return 'bot';
  if (TABLET.test(userAgent)) return 'tablet';
  if (MOBILE.test(userAgent)) return 'mobile';
  return 'desktop';
}
