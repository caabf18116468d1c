import { spawn, type ChildProcess } from 'node:child_process';
import { Agent, request } from 'node:http';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** A deploy-app.ts child and what it printed. */
export interface DeployApp {
  child: ChildProcess;
  port: number;
  /** Lines printed after `ready` (`drop …`, `stats …`). */
  lines: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

const script = fileURLToPath(new URL('./fixtures/deploy-app.ts', import.meta.url));

/** Starts test/shutdown/fixtures/deploy-app.ts for `framework` and waits for it to listen. */
export async function startDeployApp(framework: string, env: Record<string, string>): Promise<DeployApp> {
  const child = spawn(process.execPath, ['--import', 'tsx', script, framework], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal, at: performance.now() })),
  );
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const ready = /^ready (\d+)$/.exec(line);
      if (ready) resolve(Number(ready[1]));
      else lines.push(line);
    });
    void exited.then(({ code, signal }) => reject(new Error(`deploy app (${framework}) exited before it listened: ${code ?? signal}`)));
  });
  return { child, port, lines, exited };
}

/** What a {@link fullRateClient} saw. */
export interface ClientTally {
  ok: number;
  other: number;
  failed: number;
}

/**
 * Sends GET /users/<n> over `connections` keep-alive connections, each
 * sending its next request as soon as the last answer arrived, until `until`
 * settles. `reached(n)` resolves once n 2xx answers arrived.
 */
export function fullRateClient(port: number, until: Promise<unknown>, connections = 8) {
  const tally: ClientTally = { ok: 0, other: 0, failed: 0 };
  const waiters: { n: number; resolve: () => void }[] = [];
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  let stopped = false;
  void until.finally(() => (stopped = true));
  let sequence = 0;
  const once = () =>
    new Promise<void>((resolve) => {
      const req = request({ host: '127.0.0.1', port, path: `/users/${sequence++}`, agent }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode! >= 200 && res.statusCode! < 300) {
            tally.ok++;
            for (let i = waiters.length - 1; i >= 0; i--) if (tally.ok >= waiters[i]!.n) waiters.splice(i, 1)[0]!.resolve();
          } else tally.other++;
          resolve();
        });
        res.on('error', () => resolve());
      });
      req.on('error', () => {
        tally.failed++;
        // Refused once the server closed: wait for the next macrotask instead of spinning.
        setImmediate(resolve);
      });
      req.end();
    });
  const loops = Array.from({ length: connections }, async () => {
    while (!stopped) await once();
  });
  const done = Promise.all(loops).then(() => {
    agent.destroy();
    return tally;
  });
  return {
    tally,
    done,
    reached: (n: number) => new Promise<void>((resolve) => (tally.ok >= n ? resolve() : waiters.push({ n, resolve }))),
  };
}
