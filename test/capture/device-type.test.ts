import { describe, expect, it } from 'vitest';
import { detectDeviceType } from '../../src/capture/device-type.js';

describe('detectDeviceType', () => {
  it.each([
    ['Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120 Safari/537.36', 'desktop'],
    ['Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148', 'mobile'],
    ['Mozilla/5.0 (Linux; Android 14; Pixel 8) Chrome/120 Mobile Safari/537.36', 'mobile'],
    ['Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X)', 'tablet'],
    ['Mozilla/5.0 (Linux; Android 13; SM-T870) Chrome/120 Safari/537.36', 'tablet'],
    ['Googlebot/2.1 (+http://www.google.com/bot.html)', 'bot'],
    ['curl/8.4.0', 'bot'],
    [null, 'desktop'],
  ] as const)('%s -> %s', (ua, expected) => {
    expect(detectDeviceType(ua)).toBe(expected);
  });
});
