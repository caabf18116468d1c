import { execFile, execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** One request of {@link TestNamespace.requestsFromNamespace}; `localAddress` picks which client address sends it. */
export interface NamespaceRequest {
  url: string;
  method?: string;
  /** An array value is sent as that many header lines. */
  headers?: Record<string, string | string[]>;
  body?: string;
  localAddress?: string;
}

/** Its answer; `error` (and status 0) when no answer came, e.g. ECONNREFUSED. */
export interface NamespaceResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  error?: string;
}

/**
 * A network namespace of the test's own, joined to this one by a veth pair:
 * `hostAddress` is on this side, `clientAddresses` inside (the first is
 * `clientAddress`). Traffic from the namespace comes from those addresses,
 * real non-loopback peers; the pair is its only link, so nothing else is reachable.
 */
export interface TestNamespace {
  name: string;
  hostAddress: string;
  clientAddress: string;
  clientAddresses: string[];
  /** GET (or POST) `url` from inside the namespace, with a Node child process; resolves with status and body. */
  fetchFromNamespace(url: string, init?: { method?: string; headers?: Record<string, string>; body?: string }): Promise<{ status: number; body: string }>;
  /**
   * Sends `requests` one after another from inside the namespace (one Node
   * child process, `node:http`/`node:https`, a fresh connection each, no
   * redirects followed); `ca` (PEM) is the only certificate authority trusted for https.
   */
  requestsFromNamespace(requests: readonly NamespaceRequest[], options?: { ca?: string | Buffer }): Promise<NamespaceResponse[]>;
  remove(): Promise<void>;
}

/** Why namespaces cannot be made here, or undefined when they can (root and iproute2). */
export function namespacesUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'network namespaces need root (ip netns add)';
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
  } catch {
    return 'the ip command (Debian iproute2) is missing: apt-get install iproute2';
  }
  const probe = `pgpulse-probe-${process.pid}-${randomInt(1e6)}`;
  try {
    execFileSync('ip', ['netns', 'add', probe], { stdio: 'pipe' });
    execFileSync('ip', ['netns', 'del', probe], { stdio: 'pipe' });
  } catch (error) {
    return `ip netns add failed: ${(error as Error).message}`;
  }
  return undefined;
}

const requestsScript = `const [requests, ca] = JSON.parse(process.argv[1]);
const one = (r) => new Promise((resolve) => {
  const url = new URL(r.url);
  const request = require(url.protocol === 'https:' ? 'node:https' : 'node:http').request(url,
    { method: r.method ?? 'GET', headers: r.headers, localAddress: r.localAddress, agent: false, ...(ca ? { ca } : {}) },
    (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
  request.setTimeout(15000, () => request.destroy(new Error('no answer in 15 s')));
  request.on('error', (e) => resolve({ status: 0, headers: {}, body: '', error: e.code ?? String(e) }));
  request.end(r.body);
});
(async () => { const out = []; for (const r of requests) out.push(await one(r)); process.stdout.write(JSON.stringify(out)); })();`;

/**
 * Makes the namespace and a veth link with random names and a random 10.x
 * subnet: `hostAddress` (.1) here, `clients` addresses (.2, .3, …) inside
 * (default 1, a /30; more take the smallest subnet that holds them).
 */
export async function createTestNamespace(options: { clients?: number } = {}): Promise<TestNamespace> {
  const clients = options.clients ?? 1;
  if (!Number.isInteger(clients) || clients < 1 || clients > 250) throw new Error(`clients must be 1–250, got ${clients}`);
  const prefix = 32 - Math.ceil(Math.log2(clients + 3));
  const id = `${process.pid % 1000}${randomInt(1000)}`;
  const name = `pgpulse-${id}`;
  const [hostIf, nsIf] = [`pgh${id}`, `pgn${id}`];
  const [b, c] = [randomInt(16, 250), randomInt(0, 256)];
  const hostAddress = `10.${b}.${c}.1`;
  const clientAddresses = Array.from({ length: clients }, (_, i) => `10.${b}.${c}.${i + 2}`);
  const steps: string[][] = [
    ['netns', 'add', name],
    ['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf],
    ['link', 'set', nsIf, 'netns', name],
    ['addr', 'add', `${hostAddress}/${prefix}`, 'dev', hostIf],
    ['link', 'set', hostIf, 'up'],
    ...clientAddresses.map((address) => ['-n', name, 'addr', 'add', `${address}/${prefix}`, 'dev', nsIf]),
    ['-n', name, 'link', 'set', nsIf, 'up'],
    ['-n', name, 'link', 'set', 'lo', 'up'],
  ];
  const remove = async () => {
    await run('ip', ['link', 'del', hostIf]).catch(() => undefined);
    await run('ip', ['netns', 'del', name]).catch(() => undefined);
  };
  try {
    for (const step of steps) await run('ip', step);
  } catch (error) {
    await remove();
    throw error;
  }
  const script = `const [url, init] = JSON.parse(process.argv[1]);
fetch(url, init).then(async (r) => process.stdout.write(JSON.stringify({ status: r.status, body: await r.text() })), (e) => { console.error(String(e.cause ?? e)); process.exit(1); });`;
  return {
    name,
    hostAddress,
    clientAddress: clientAddresses[0]!,
    clientAddresses,
    async fetchFromNamespace(url, init = {}) {
      const { stdout } = await run('ip', ['netns', 'exec', name, process.execPath, '-e', script, JSON.stringify([url, { ...init, redirect: 'manual' }])]);
      return JSON.parse(stdout) as { status: number; body: string };
    },
    async requestsFromNamespace(requests, { ca } = {}) {
      const argument = JSON.stringify([requests, ca?.toString()]);
      const { stdout } = await run('ip', ['netns', 'exec', name, process.execPath, '-e', requestsScript, argument], { maxBuffer: 64 * 1024 * 1024 });
      return JSON.parse(stdout) as NamespaceResponse[];
    },
    remove,
  };
}
