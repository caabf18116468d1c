import { describe, expect, it } from 'vitest';
import { countryFrom, defaultCountryHeaders } from '../../src/capture/country.js';
import { refererParts } from '../../src/capture/referer.js';
import { userAgentInfo } from '../../src/capture/user-agent-info.js';

/** Real crawler and tool user agents the old hand-written regex called `desktop` or missed. */
const CRAWLERS = [
  'Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Googlebot/2.1; +http://www.google.com/bot.html) Chrome/120.0.6099.216 Safari/537.36',
  'Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)',
  'Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)',
  'Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)',
  'DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)',
  'Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)',
  'Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)',
  'Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; GPTBot/1.2; +https://openai.com/gptbot',
  'Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; +claudebot@anthropic.com)',
  'Mozilla/5.0 (compatible; Applebot/0.1; +http://www.apple.com/go/applebot)',
  'Twitterbot/1.0',
  'Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)',
  'Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)',
  'WhatsApp/2.23.20.0',
  'TelegramBot (like TwitterBot)',
  'Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.216 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36',
  'python-requests/2.31.0',
  'Go-http-client/1.1',
  'curl/8.4.0',
  'Wget/1.21.4',
  'okhttp/4.12.0',
  'axios/1.6.2',
  'node-fetch/1.0 (+https://github.com/bitinn/node-fetch)',
  'PostmanRuntime/7.36.0',
  'Mozilla/5.0 (compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)',
  'Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)',
];

const BROWSERS = [
  ['Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36', 'desktop', 'Chrome', 'Windows'],
  [
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91',
    'desktop',
    'Edge',
    'Windows',
  ],
  ['Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0', 'desktop', 'Firefox', 'Windows'],
  ['Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15', 'desktop', 'Safari', 'macOS'],
  ['Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36', 'desktop', 'Chrome', 'Linux'],
  ['Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0', 'desktop', 'Firefox', 'Linux'],
  [
    'Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1',
    'mobile',
    'Safari',
    'iOS',
  ],
  [
    'Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1',
    'mobile',
    'Chrome',
    'iOS',
  ],
  ['Mozilla/5.0 (iPad; CPU OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1', 'tablet', 'Safari', 'iOS'],
  ['Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36', 'mobile', 'Chrome', 'Android'],
  [
    'Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36',
    'mobile',
    'Samsung Internet',
    'Android',
  ],
  ['Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36', 'tablet', 'Chrome', 'Android'],
  [
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 OPR/106.0.0.0',
    'desktop',
    'Opera',
    'Windows',
  ],
  ['Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36', 'desktop', 'Chrome', 'Chrome OS'],
] as const;

describe('userAgentInfo', () => {
  it.each(CRAWLERS)('crawler or tool is a bot: %s', (ua) => {
    expect(userAgentInfo(ua)).toEqual({ device_type: 'bot', browser: null, os: null });
  });

  it.each(BROWSERS)('browser is not a bot: %s', (ua, device, browser, os) => {
    expect(userAgentInfo(ua)).toEqual({ device_type: device, browser, os });
  });

  it('is memoised per user agent and missing user agents are unknown desktops', () => {
    const ua = BROWSERS[0][0];
    expect(userAgentInfo(ua)).toBe(userAgentInfo(ua));
    expect(userAgentInfo(null)).toEqual({ device_type: 'desktop', browser: null, os: null });
    expect(userAgentInfo('Mozilla/5.0 (PlayStation; PlayStation 5/2.26) AppleWebKit/605.1.15 (KHTML, like Gecko)')).toMatchObject({
      device_type: 'desktop',
      os: 'Other',
    });
  });
});

describe('countryFrom', () => {
  it('takes the first valid ISO 3166-1 alpha-2 code from the trusted headers', () => {
    expect(countryFrom({ 'cf-ipcountry': 'de' }, defaultCountryHeaders)).toBe('DE');
    expect(countryFrom({ 'cf-ipcountry': 'XX', 'cloudfront-viewer-country': 'FR' }, defaultCountryHeaders)).toBe('FR');
    expect(countryFrom({ 'x-vercel-ip-country': 'T1' }, defaultCountryHeaders)).toBeNull();
    expect(countryFrom({ 'x-fastly-country-code': 'ZZ' }, defaultCountryHeaders)).toBeNull();
    expect(countryFrom({ 'cf-ipcountry': 'United States' }, defaultCountryHeaders)).toBeNull();
    expect(countryFrom({ 'cf-ipcountry': 'US' }, [])).toBeNull();
    expect(countryFrom({ 'x-geo': 'jp' }, ['x-geo'])).toBe('JP');
  });
});

describe('refererParts', () => {
  it('cuts query and fragment and extracts the host', () => {
    expect(refererParts('https://user@WWW.Example.COM.:8080/a/b?q=1#x', false, 1000)).toEqual({
      referer: 'https://user@WWW.Example.COM.:8080/a/b',
      referer_host: 'www.example.com',
    });
    expect(refererParts('https://[2001:db8::1]:443/x', false, 1000).referer_host).toBe('[2001:db8::1]');
    expect(refererParts('android-app://com.google.android.gm/', false, 1000).referer_host).toBe('com.google.android.gm');
    expect(refererParts('not a url', false, 1000)).toEqual({ referer: 'not a url', referer_host: null });
    expect(refererParts('?only=query', false, 1000)).toEqual({ referer: null, referer_host: null });
    expect(refererParts(undefined, false, 1000)).toEqual({ referer: null, referer_host: null });
  });
});
