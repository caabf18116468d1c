import Bowser from 'bowser';
import { isbot } from 'isbot';
import type { DeviceType } from '../schema/request-log.js';

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
/**
 * Longest part of a user agent that is parsed, in characters. Real user
 * agents fit (the longest in-app browsers' are about 400); the parsers' cost
 * grows with their input, so a crafted 15 KB header (`Mozilla/5.0 (`
 * repeated) would otherwise cost milliseconds of the app's thread.
 */
export const MAX_PARSED_USER_AGENT = 512;

/**
 * Device class, browser and OS of a user agent: bots by `isbot` (maintained
 * crawler list), the rest by `bowser` (MIT), both on its first
 * {@link MAX_PARSED_USER_AGENT} characters only. Each distinct prefix is
 * parsed once and remembered (the memo holds at most 2,000 entries of at most
 * 512 characters); the result is frozen and shared.
 */
export function userAgentInfo(userAgent: string | null | undefined): UserAgentInfo {
  if (!userAgent) return MISSING;
  const key = userAgent.length > MAX_PARSED_USER_AGENT ? userAgent.slice(0, MAX_PARSED_USER_AGENT) : userAgent;
  let info = memo.get(key);
  if (info === undefined) {
    info = parse(key);
    if (memo.size >= MEMO_SIZE) memo.clear();
    memo.set(key, info);
  }
  return info;
}

function parse(userAgent: string): UserAgentInfo {
  if (isbot(userAgent)) return Object.freeze({ device_type: 'bot', browser: null, os: null });
  // A lazy parser reads only what is asked (browser, OS, platform), not the engine: half the work of Bowser.parse.
  let platform: string | undefined, browserName: string, osName: string;
  try {
    const parser = Bowser.getParser(userAgent, true);
    platform = parser.getPlatformType();
    browserName = parser.getBrowserName();
    osName = parser.getOSName();
  } catch {
    return Object.freeze({ device_type: 'desktop', browser: 'Other', os: 'Other' });
  }
  const device_type: DeviceType = platform === 'mobile' ? 'mobile' : platform === 'tablet' ? 'tablet' : platform === 'bot' ? 'bot' : 'desktop';
  if (device_type === 'bot') return Object.freeze({ device_type, browser: null, os: null });
  const browser = BROWSERS.get(browserName) ?? 'Other';
  const os = SYSTEMS.get(osName) ?? 'Other';
  return Object.freeze({ device_type, browser, os });
}
