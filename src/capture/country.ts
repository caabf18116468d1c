import type { IncomingHttpHeaders } from 'node:http';

/**
 * Request headers in which a CDN or platform passes the visitor's country, read
 * in this order when `trustCountryHeaders: true`: Cloudflare, Amazon
 * CloudFront, Vercel, and Fastly (which sends none by default: set it in VCL
 * with `set req.http.X-Fastly-Country-Code = client.geo.country_code;`).
 */
export const defaultCountryHeaders = ['cf-ipcountry', 'cloudfront-viewer-country', 'x-vercel-ip-country', 'x-fastly-country-code'] as const;

/** Officially assigned ISO 3166-1 alpha-2 codes, plus `XK` (Kosovo), which CDNs send. */
const ISO_3166_ALPHA_2 = new Set(
  (
    'AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ ' +
    'CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR ' +
    'GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP ' +
    'KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT ' +
    'MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW ' +
    'SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG ' +
    'UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW XK'
  ).split(' '),
);

/** Whether `code` is an upper-case ISO 3166-1 alpha-2 country code. */
export function isCountryCode(code: string): boolean {
  return ISO_3166_ALPHA_2.has(code);
}

/**
 * The visitor's country from the first of `headerNames` holding a valid ISO
 * 3166-1 alpha-2 code (case-insensitive); null when none does. CDN markers
 * such as Cloudflare's `XX` (unknown) and `T1` (Tor) give null.
 */
export function countryFrom(headers: IncomingHttpHeaders, headerNames: readonly string[]): string | null {
  for (const name of headerNames) {
    const value = headers[name];
    const text = typeof value === 'string' ? value : Array.isArray(value) ? value[0] : undefined;
    if (text === undefined || text.length < 2 || text.length > 8) continue;
    const code = text.trim().toUpperCase();
    if (code.length === 2 && ISO_3166_ALPHA_2.has(code)) return code;
  }
  return null;
}
