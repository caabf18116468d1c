import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { TrustProxy } from '../../src/capture/trust-proxy.js';
import { parseBasePath, parseTrustProxyFlag } from '../../src/cli/commands/dashboard.js';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import { startDashboardServer, type DashboardServer } from '../../src/dashboard/index.js';
import { createMigratedTestDatabase, type TestDatabase } from '../support/database.js';
import { createTestNamespace, namespacesUnavailable, type NamespaceRequest, type NamespaceResponse, type TestNamespace } from '../support/netns.js';
import { freePort, nginxMissing, runNginx } from '../support/nginx.js';
import { fencedBlocks, readmeSection, replaceOnce } from '../support/readme.js';
import { makeTestCertificate, type TestCertificate } from '../support/tls-cert.js';

const unavailable = namespacesUnavailable() ?? nginxMissing;
if (unavailable) console.warn(`[throttle-per-client] SKIPPED: real client addresses behind nginx need a network namespace and nginx, and here ${unavailable}`);

const TOKEN = 'per-client-token-8d41c07e2b95';
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const bearer = { authorization: `Bearer ${TOKEN}` };
const wrong = (i: number) => ({ authorization: `Bearer wrong-${i}` });
const statuses = (responses: NamespaceResponse[]) => responses.map((response) => response.error ?? response.status);
const throttled = (n: number) => [...Array<number>(10).fill(401), ...Array<number>(n - 10).fill(429)];

/** What the README's Security section runs: its nginx block, and the base path and trustProxy of the `pgpulse dashboard` command after it. */
async function readmeSetup() {
  const section = await readmeSection('### Security');
  const nginx = fencedBlocks(section, 'nginx');
  const command = fencedBlocks(section, 'sh').find((block) => block.includes('--trust-proxy'));
  if (nginx.length !== 1 || command === undefined)
    throw new Error('README.md, Security: expected one nginx block and a `pgpulse dashboard … --trust-proxy` command');
  const flag = (name: string) => new RegExp(`--${name}[ =]['"]?([^'"\\s]+)`).exec(command)?.[1];
  return { nginx: nginx[0]!, basePath: parseBasePath(flag('base-path')), trustProxy: parseTrustProxyFlag(flag('trust-proxy')) };
}

/**
 * Real client addresses (a network namespace over a veth pair) through the
 * README's nginx TLS block in front of a dashboard set up as the README says:
 * wrong tokens are throttled per client, the right one always works, forged
 * forwarding headers change nothing, cross-site posts are refused uncounted.
 */
describe.skipIf(unavailable !== undefined)('wrong tokens are throttled per real client behind the README nginx TLS proxy', () => {
  let database: TestDatabase;
  let pulse: Pulse;
  let ns: TestNamespace;
  let certificate: TestCertificate;
  let readme: Awaited<ReturnType<typeof readmeSetup>>;
  let cleanups: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    readme = await readmeSetup();
    database = await createMigratedTestDatabase();
    pulse = createPulse({ connectionString: database.url, maxWaitMs: 20 });
    await pulse.migrate();
    ns = await createTestNamespace({ clients: 4 });
    certificate = await makeTestCertificate({ ips: [ns.hostAddress] });
  });
  afterEach(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    cleanups = [];
  });
  afterAll(async () => {
    await ns?.remove();
    await certificate?.remove();
    await pulse?.close();
    await database?.drop();
  });

  async function dashboardOn(host: string, trustProxy: TrustProxy | undefined): Promise<DashboardServer> {
    const dashboard = await startDashboardServer({
      db: pulse.db,
      pubsub: pulse.pubsub,
      registry: pulse.registry,
      token: TOKEN,
      basePath: readme.basePath,
      trustProxy,
      host,
      port: 0,
    });
    cleanups.push(() => dashboard.close());
    return dashboard;
  }

  /** The README's nginx block verbatim but for its listen port (random, on the veth), certificate files and upstream. */
  async function readmeNginx(upstream: DashboardServer): Promise<string> {
    const port = await freePort(ns.hostAddress);
    let server = replaceOnce(readme.nginx, 'listen 443 ssl;', `listen ${ns.hostAddress}:${port} ssl;`);
    server = replaceOnce(server, '/etc/ssl/pgpulse/cert.pem', certificate.certFile);
    server = replaceOnce(server, '/etc/ssl/pgpulse/key.pem', certificate.keyFile);
    server = replaceOnce(server, 'proxy_pass http://127.0.0.1:4000;', `proxy_pass http://${new URL(upstream.url).host};`);
    const nginx = await runNginx([server], [{ host: ns.hostAddress, port }]);
    cleanups.push(() => nginx.stop());
    return `https://${ns.hostAddress}:${port}${readme.basePath}/`;
  }

  /** The README's set-up: the dashboard on 127.0.0.1 with the README's trustProxy, nginx in front. */
  async function asTheReadmeSays() {
    const dashboard = await dashboardOn('127.0.0.1', readme.trustProxy);
    return { dashboard, base: await readmeNginx(dashboard) };
  }

  /** Requests from the namespace, in order, over TLS verified against the test certificate alone. */
  const send = (requests: NamespaceRequest[]) => ns.requestsFromNamespace(requests, { ca: certificate.cert });
  const at =
    (base: string) =>
    (client: string, path: string, init: Omit<NamespaceRequest, 'url' | 'localAddress'> = {}): NamespaceRequest => ({
      url: `${base}${path}`,
      localAddress: client,
      ...init,
    });
  const loginForm = (headers: Record<string, string>, body: string) => ({ method: 'POST', headers: { ...FORM, ...headers }, body });
  const sameOrigin = { 'sec-fetch-site': 'same-origin' };

  it('the README advises trustProxy loopback for this same-host proxy, and its block proxies to 127.0.0.1', () => {
    expect(readme.trustProxy).toBe('loopback');
    expect(readme.nginx).toMatch(/proxy_pass http:\/\/127\.0\.0\.1:/);
    expect(readme.nginx).toMatch(/X-Forwarded-For \$proxy_add_x_forwarded_for/);
  });

  it("client A's wrong tokens get 429 after 10; client B through the same proxy is counted on its own; A's right token still works everywhere", async () => {
    const [A, B] = ns.clientAddresses as [string, string];
    const { dashboard, base } = await asTheReadmeSays();
    const to = at(base);
    const a = await send([
      ...Array.from({ length: 12 }, (_, i) => to(A, 'api/recent', { headers: wrong(i) })),
      to(A, 'api/session', loginForm(sameOrigin, 'token=nope')),
    ]);
    expect(statuses(a)).toEqual(throttled(13));
    expect(a[12]!.headers['retry-after']).toMatch(/^[1-9]\d*$/);
    // B, through the same nginx: its own ten wrong tokens before a 429, and its right one works.
    const b = await send([...Array.from({ length: 11 }, (_, i) => to(B, 'api/recent', { headers: wrong(i) })), to(B, 'api/recent', { headers: bearer })]);
    expect(statuses(b)).toEqual([...throttled(11), 200]);

    // A, still throttled: form login, the session it gives, Bearer /api/*, Bearer /metrics.
    const [login] = await send([to(A, 'api/session', loginForm(sameOrigin, `token=${encodeURIComponent(TOKEN)}`))]);
    expect(login!.status).toBe(303);
    const setCookie = String(login!.headers['set-cookie']);
    expect(setCookie).toMatch(/^pgpulse_session=[^;]+;.*; Secure/); // X-Forwarded-Proto: https from the trusted proxy
    const cookie = setCookie.split(';')[0]!;
    const after = await send([
      to(A, '', { headers: { cookie } }),
      to(A, 'api/recent', { headers: bearer }),
      to(A, `api/stats?from=${new Date(Date.now() - 60_000).toISOString()}`, { headers: bearer }),
      to(A, 'metrics', { headers: bearer }),
      to(A, 'api/recent', { headers: wrong(99) }),
    ]);
    expect(statuses(after)).toEqual([200, 200, 200, 200, 429]);
    expect(after[0]!.body).toMatch(/<html/i);
    expect(after[3]!.body).toMatch(/^pgpulse_dashboard_unauthorized_total/m);
    expect(dashboard.dashboard.stats.rateLimited).toBe(3 + 1 + 1);
  });

  it('a forged X-Forwarded-For, X-Real-IP or Forwarded neither shifts A’s failures onto B or C nor lets a throttled A escape', async () => {
    const [A, B, C] = ns.clientAddresses as [string, string, string];
    const { dashboard, base } = await asTheReadmeSays();
    const to = at(base);
    // A names B in every way it can: as the client, as a hop before a trusted-looking one, in two header lines, in the other headers.
    const blameB: Record<string, string | string[]>[] = [
      { 'x-forwarded-for': B },
      { 'x-forwarded-for': `${B}, 127.0.0.1` },
      { 'x-forwarded-for': `${B}, ::1` },
      { 'x-forwarded-for': [B, '127.0.0.1'] },
      { 'x-forwarded-for': `${B}, ${ns.hostAddress}` },
      { 'x-real-ip': B },
      { forwarded: `for=${B};proto=https` },
      { forwarded: `for="${B}"`, 'x-real-ip': B, 'x-forwarded-for': B },
      { 'x-forwarded-for': Array.from({ length: 40 }, () => B).join(', ') },
      { 'x-forwarded-for': `${B}:443` },
    ];
    const blamed = await send(blameB.map((headers, i) => to(A, 'api/recent', { headers: { ...headers, ...wrong(i) } })));
    expect(statuses(blamed)).toEqual(Array(10).fill(401));
    // Throttled now, A tries to pass as someone new: fresh addresses, loopback, the proxy, C, garbage.
    const escapes: Record<string, string | string[]>[] = [
      ...Array.from({ length: 5 }, (_, i) => ({ 'x-forwarded-for': `198.51.100.${i + 1}` })),
      { 'x-forwarded-for': '127.0.0.1' },
      { 'x-forwarded-for': '::1' },
      { 'x-forwarded-for': ns.hostAddress },
      { 'x-forwarded-for': C },
      { 'x-forwarded-for': `${C}, 127.0.0.1` },
      { 'x-forwarded-for': '' },
      { 'x-forwarded-for': 'unknown' },
      { 'x-forwarded-for': Array.from({ length: 40 }, (_, i) => `203.0.113.${i}`).join(',') },
      { 'x-real-ip': C, forwarded: `for=${C}` },
    ];
    const escaped = await send(escapes.map((headers, i) => to(A, 'api/recent', { headers: { ...headers, ...wrong(100 + i) } })));
    expect(statuses(escaped)).toEqual(Array(escapes.length).fill(429));
    // None of it landed on B or C: a wrong token from either is a plain 401, the right one a 200.
    const others = await send([B, C].flatMap((client) => [to(client, 'api/recent', { headers: wrong(0) }), to(client, 'api/recent', { headers: bearer })]));
    expect(statuses(others)).toEqual([401, 200, 401, 200]);
    expect(dashboard.dashboard.stats.rateLimited).toBe(escapes.length);
    // And no client reaches the app around the proxy: it listens on 127.0.0.1, which from the namespace is the namespace's own.
    const { port } = new URL(dashboard.url);
    const direct = await send([{ url: `http://${ns.hostAddress}:${port}/`, localAddress: A }, { url: `http://127.0.0.1:${port}/` }]);
    expect(statuses(direct)).toEqual(['ECONNREFUSED', 'ECONNREFUSED']);
  });

  it('cross-site logins and logouts (Sec-Fetch-Site, Origin of another site) get 403 with no cookie and are not counted', async () => {
    const [, , C] = ns.clientAddresses as [string, string, string];
    const { dashboard, base } = await asTheReadmeSays();
    const to = at(base);
    const { origin, hostname } = new URL(base);
    const crossSite: Record<string, string>[] = [
      { 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-site': 'same-site' },
      { 'sec-fetch-site': 'cross-site', origin },
      { origin: 'https://evil.example' },
      { origin: 'null' },
      { origin: `https://${hostname}.evil.example` },
      { origin: `https://${hostname}:1` },
    ];
    const posts = [
      // A page's guesses, more than the throttle's 10, and its try to sign the browser in with a token of its own (login CSRF).
      ...crossSite.flatMap((headers, i) => [
        to(C, 'api/session', loginForm(headers, `token=guess-${i}`)),
        to(C, 'api/session', loginForm(headers, `token=${TOKEN}`)),
      ]),
      ...crossSite.map((headers) => to(C, 'api/logout', { method: 'POST', headers })),
    ];
    const refused = await send(posts);
    expect(statuses(refused)).toEqual(Array(posts.length).fill(403));
    expect(refused.filter((response) => response.headers['set-cookie'] !== undefined)).toEqual([]);
    expect(refused[0]!.body).toMatch(/cross-site request refused/);
    expect(dashboard.dashboard.stats).toMatchObject({ forbidden: posts.length, unauthorized: 0, rateLimited: 0 });
    // Uncounted: C's next wrong token is its first (401); the operator's same-origin login from C works.
    const after = await send([to(C, 'api/recent', { headers: wrong(1) }), to(C, 'api/session', loginForm(sameOrigin, `token=${TOKEN}`))]);
    expect(statuses(after)).toEqual([401, 303]);
    expect(String(after[1]!.headers['set-cookie'])).toMatch(/; Secure/);
  });

  // Why the README advises what it does: the same forgery against each trustProxy choice ("via nginx": the
  // README's block; "direct": the client reaches the app itself). Held: the forger D is throttled and cannot
  // blame B. Not held: D is never throttled (true behind nginx: it appends to the client's header) and its failures land on B.
  const proxyAddress = () => ns.hostAddress;
  const subnetWithClients = () => `${ns.hostAddress.replace(/\.1$/, '.0')}/29`;
  it.each([
    { setting: 'loopback (README), via nginx', trust: () => readme.trustProxy, app: 'loopback', via: 'nginx', held: true },
    { setting: '1 hop, via the one nginx', trust: () => 1, app: 'loopback', via: 'nginx', held: true },
    { setting: 'true, via nginx', trust: () => true, app: 'loopback', via: 'nginx', held: false },
    { setting: '2 hops, via the one nginx', trust: () => 2, app: 'loopback', via: 'nginx', held: false },
    { setting: 'the proxy address, via nginx', trust: proxyAddress, app: 'veth', via: 'nginx', held: true },
    { setting: 'the proxy address, direct', trust: proxyAddress, app: 'veth', via: 'direct', held: true },
    { setting: 'loopback, direct', trust: () => 'loopback', app: 'veth', via: 'direct', held: true },
    { setting: '1 hop, direct', trust: () => 1, app: 'veth', via: 'direct', held: false },
    { setting: 'true, direct', trust: () => true, app: 'veth', via: 'direct', held: false },
    { setting: 'a CIDR holding clients, direct', trust: subnetWithClients, app: 'veth', via: 'direct', held: false },
  ] as const)('trustProxy $setting: forged X-Forwarded-For held: $held', async ({ trust, app, via, held }) => {
    const [, B, , D] = ns.clientAddresses as [string, string, string, string];
    const dashboard = await dashboardOn(app === 'loopback' ? '127.0.0.1' : ns.hostAddress, trust());
    const to = at(via === 'nginx' ? await readmeNginx(dashboard) : dashboard.url);
    const rotating = await send(Array.from({ length: 12 }, (_, i) => to(D, 'api/recent', { headers: { ...wrong(i), 'x-forwarded-for': `198.51.100.${i}` } })));
    expect(statuses(rotating)).toEqual(held ? throttled(12) : Array(12).fill(401));
    await send(Array.from({ length: 10 }, (_, i) => to(D, 'api/recent', { headers: { ...wrong(i), 'x-forwarded-for': B } })));
    const victim = await send([to(B, 'api/recent', { headers: wrong(0) }), to(B, 'api/recent', { headers: bearer })]);
    expect(statuses(victim)).toEqual([held ? 401 : 429, 200]);
  });
});
