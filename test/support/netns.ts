import { execFile, execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * A network namespace of the test's own, joined to this one by a veth pair:
 * `hostAddress` is on this side, `clientAddress` inside. Traffic from
 * `fetchFromNamespace` comes from `clientAddress`, a real non-loopback peer.
 */
export interface TestNamespace {
  name: string;
  hostAddress: string;
  clientAddress: string;
  /** GET (or POST) `url` from inside the namespace, with a Node child process; resolves with status and body. */
  fetchFromNamespace(url: string, init?: { method?: string; headers?: Record<string, string>; body?: string }): Promise<{ status: number; body: string }>;
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

/** Makes the namespace and a /30 veth link with random names and a random 10.x subnet. */
export async function createTestNamespace(): Promise<TestNamespace> {
  const id = `${process.pid % 1000}${randomInt(1000)}`;
  const name = `pgpulse-${id}`;
  const [hostIf, nsIf] = [`pgh${id}`, `pgn${id}`];
  const [b, c] = [randomInt(16, 250), randomInt(0, 63) * 4];
  const hostAddress = `10.${b}.${c}.1`;
  const clientAddress = `10.${b}.${c}.2`;
  const steps: string[][] = [
    ['netns', 'add', name],
    ['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf],
    ['link', 'set', nsIf, 'netns', name],
    ['addr', 'add', `${hostAddress}/30`, 'dev', hostIf],
    ['link', 'set', hostIf, 'up'],
    ['-n', name, 'addr', 'add', `${clientAddress}/30`, 'dev', nsIf],
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
    clientAddress,
    async fetchFromNamespace(url, init = {}) {
      const { stdout } = await run('ip', ['netns', 'exec', name, process.execPath, '-e', script, JSON.stringify([url, { ...init, redirect: 'manual' }])]);
      return JSON.parse(stdout) as { status: number; body: string };
    },
    remove,
  };
}
