import Bowser from 'bowser';
import { isbot } from 'isbot';
import type { DeviceType } from '../request-log.js';

/** What pgpulse derives from a user agent: device class and low-cardinality browser and OS families. */
export interface UserAgentInfo {
  device_type: DeviceType;
  /** Browser family (`Chrome`, `Safari`, `Firefox`, `Edge`, …, `Other`); null for bots and missing user agents. */
  browser: string | null;
  /** OS family (`Windows`, `macOS`, `iOS`, `Android`, `Linux`, `Chrome OS`, `Other`); null for bots and missing user agents. */
  os: string | null;
}

/** Browser families kept by name (bowser's names on the left); any other browser is `Other`. */
const BROWSERS: ReadonlyMap<string, string> = new Map([
  ['Chrome', 'Chrome'],
  ['Chromium', 'Chromium'],
  ['Safari', 'Safari'],
  ['Firefox', 'Firefox'],
  ['Microsoft Edge', 'Edge'],
  ['Opera', 'Opera'],
  ['Opera Touch', 'Opera'],
  ['Samsung Internet for Android', 'Samsung Internet'],
  ['Internet Explorer', 'Internet Explorer'],
  ['Yandex Browser', 'Yandex'],
  ['UC Browser', 'UC Browser'],
  ['Vivaldi', 'Vivaldi'],
  ['Brave', 'Brave'],
  ['DuckDuckGo', 'DuckDuckGo'],
  ['WeChat', 'WeChat'],
]);

/** OS families kept by name; any other OS is `Other`. */
const SYSTEMS: ReadonlyMap<string, string> = new Map([
  ['Windows', 'Windows'],
  ['macOS', 'macOS'],
  ['iOS', 'iOS'],
  ['Android', 'Android'],
  ['Linux', 'Linux'],
  ['Chrome OS', 'Chrome OS'],
  ['HarmonyOS', 'HarmonyOS'],
]);

const MISSING: UserAgentInfo = Object.freeze({ device_type: 'desktop', browser: null, os: null });
const memo = new Map<string, UserAgentInfo>();
/** User agents remembered (a handful of strings make up most traffic). */
const MEMO_SIZE = 2_000;
/** Longer user agents are not remembered, so the memo stays small (≤ 1 MiB). */
const MEMO_MAX_LENGTH = 512;

/**
 * Device class, browser and OS of a user agent: bots by `isbot` (maintained
 * crawler list), the rest by `bowser` (MIT). Each distinct user agent is parsed
 * once and remembered; the result is frozen and shared.
 */
export function userAgentInfo(userAgent: string | null | undefined): UserAgentInfo {
  if (!userAgent) return MISSING;
  if (userAgent.length > MEMO_MAX_LENGTH) return parse(userAgent);
  let info = memo.get(userAgent);
  if (info === undefined) {
    info = parse(userAgent);
    if (memo.size >= MEMO_SIZE) memo.clear();
    memo.set(userAgent, info);
  }
  return info;
}

function parse(userAgent: string): UserAgentInfo {
  if (isbot(userAgent)) return Object.freeze({ device_type: 'bot', browser: null, os: null });
  let result: Bowser.Parser.ParsedResult;
  try {
    result = Bowser.parse(userAgent);
  } catch {
    return Object.freeze({ device_type: 'desktop', browser: 'Other', os: 'Other' });
  }
  const platform = result.platform.type;
  const device_type: DeviceType = platform === 'mobile' ? 'mobile' : platform === 'tablet' ? 'tablet' : platform === 'bot' ? 'bot' : 'desktop';
  if (device_type === 'bot') return Object.freeze({ device_type, browser: null, os: null });
  const browser = BROWSERS.get(result.browser.name ?? '') ?? 'Other';
  const os = SYSTEMS.get(result.os.name ?? '') ?? 'Other';
  return Object.freeze({ device_type, browser, os });
}
