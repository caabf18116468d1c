/**
 * Leak check: records every pg pool and client, listening server, child
 * process, worker thread and timer that a test file's code (test/ or src/)
 * opens, and which test was running when it did. `leaksOf()` answers the ones
 * still alive; `test/support/setup-leak-check.ts` (a vitest `setupFiles`
 * entry) fails the file with them after its last test, hooks and fixtures.
 *
 * Hand-written because it must see inside this process: pools by wrapping
 * `pg.Pool` (every caller uses `pg.Pool` from the default import), clients by
 * `pg.Client.prototype.connect`, servers by `net.Server.prototype.listen`,
 * child processes by `ChildProcess.prototype.spawn`, workers by a `Worker`
 * subclass synced into `node:worker_threads`' ESM exports, timers by the
 * global `setTimeout`/`setInterval` (only those called from test/ or src/,
 * not from node_modules: vitest's own and pg's idle timers are theirs).
 */
import { ChildProcess } from 'node:child_process';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { Server } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { Worker } from 'node:worker_threads';
import pg from 'pg';

export type LeakKind = 'pg pool' | 'pg client' | 'server' | 'child process' | 'worker thread' | 'timer';

interface Tracked {
  kind: LeakKind;
  /** What it is, e.g. the database of a pool or the command of a child process. */
  what: () => string;
  alive: () => boolean;
  /** The test running when it was opened, or undefined (a beforeAll/afterAll hook, a file fixture or the module's top level). */
  openedIn: string | undefined;
  /** Where it was opened (its stack, read only when reported). */
  origin: Error;
}

/** One resource still open. */
export interface Leak {
  kind: LeakKind;
  what: string;
  openedIn: string | undefined;
  /** First stack frame in test/ or src/ (file:line:column), when there is one. */
  at: string | undefined;
}

const root = fileURLToPath(new URL('../../', import.meta.url));
const self = fileURLToPath(import.meta.url);

interface Registry {
  tracked: Set<Tracked>;
  timers: Map<NodeJS.Timeout, Tracked>;
  currentTest: string | undefined;
}

const registryKey = Symbol.for('pgpulse.leak-check');
const globals = globalThis as typeof globalThis & { [registryKey]?: Registry };

function originHere(): Error {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 12;
  const origin = new Error('opened here');
  Error.stackTraceLimit = limit;
  return origin;
}

/** Stack frames (file:line:column) of `origin`, leak-check's own left out. */
function framesOf(origin: Error): string[] {
  return (origin.stack ?? '')
    .split('\n')
    .slice(1)
    .map((line) => /\(?((?:file:\/\/)?\/[^():]+:\d+:\d+)\)?\s*$/.exec(line)?.[1]?.replace(/^file:\/\//, ''))
    .filter((frame): frame is string => frame !== undefined && !frame.startsWith(self));
}

function inRepo(frame: string | undefined): boolean {
  return frame !== undefined && frame.startsWith(root) && !frame.includes('/node_modules/');
}

function track(registry: Registry, entry: Omit<Tracked, 'openedIn' | 'origin'>, origin = originHere()): Tracked {
  const tracked = { ...entry, openedIn: registry.currentTest, origin };
  registry.tracked.add(tracked);
  return tracked;
}

function redact(connectionString: string | undefined): string {
  if (!connectionString) return 'default connection settings';
  try {
    const url = new URL(connectionString);
    url.password = '';
    return url.toString();
  } catch {
    return '(unparsable connection string)';
  }
}

function describeConfig(config: unknown): string {
  const c = (config ?? {}) as { connectionString?: string; host?: string; port?: number; database?: string };
  return c.connectionString ? redact(c.connectionString) : `${c.host ?? 'localhost'}:${c.port ?? 5432}/${c.database ?? ''}`;
}

type PoolInternals = pg.Pool & { ending?: boolean; ended?: boolean; _clients?: unknown[]; options?: unknown };
type ClientInternals = pg.Client & { _ending?: boolean; connectionParameters?: unknown; connection?: { stream?: { destroyed?: boolean } } };

function installPg(registry: Registry): void {
  const Original = pg.Pool;
  const pools = new Set<PoolInternals>();
  class TrackedPool extends Original {
    constructor(...args: ConstructorParameters<typeof Original>) {
      super(...args);
      const pool = this as PoolInternals;
      let used = false;
      const connect = pool.connect.bind(pool) as (...a: unknown[]) => unknown;
      (pool as { connect: unknown }).connect = (...a: unknown[]) => {
        used = true;
        return connect(...a);
      };
      pools.add(pool);
      track(registry, {
        kind: 'pg pool',
        what: () => `${describeConfig(args[0])}, ${pool.totalCount} connection(s)`,
        alive: () => used && !pool.ending && !pool.ended,
      });
    }
  }
  (pg as { Pool: typeof pg.Pool }).Pool = TrackedPool;

  const connect = pg.Client.prototype.connect as (this: ClientInternals, ...a: unknown[]) => unknown;
  (pg.Client.prototype as { connect: unknown }).connect = function (this: ClientInternals, ...a: unknown[]) {
    track(registry, {
      kind: 'pg client',
      what: () => describeConfig(this.connectionParameters),
      // A pool's clients are the pool's: reported as the pool.
      alive: () => {
        if ([...pools].some((pool) => pool._clients?.includes(this))) return false;
        const stream = this.connection?.stream;
        return !this._ending && stream !== undefined && !stream.destroyed;
      },
    });
    return connect.apply(this, a);
  };
}

function installServers(registry: Registry): void {
  const listen = Server.prototype.listen as (this: Server, ...a: unknown[]) => Server;
  const seen = new WeakSet<Server>();
  Server.prototype.listen = function (this: Server, ...a: unknown[]) {
    if (!seen.has(this)) {
      seen.add(this);
      track(registry, {
        kind: 'server',
        what: () => {
          const address = this.address();
          return `${this.constructor.name} on ${typeof address === 'object' && address ? `${address.address}:${address.port}` : String(address)}`;
        },
        alive: () => this.listening,
      });
    }
    return listen.apply(this, a);
  } as typeof Server.prototype.listen;
}

function installChildProcesses(registry: Registry): void {
  type Spawn = (this: ChildProcess, options: { file?: string; args?: string[] }) => unknown;
  const prototype = ChildProcess.prototype as unknown as { spawn: Spawn };
  const spawn = prototype.spawn;
  prototype.spawn = function (this: ChildProcess, options) {
    const command = (options.args ?? [options.file ?? '?']).join(' ');
    track(registry, {
      kind: 'child process',
      what: () => `pid ${this.pid}: ${command.length > 160 ? `${command.slice(0, 160)}…` : command}`,
      alive: () => this.pid !== undefined && this.exitCode === null && this.signalCode === null,
    });
    return spawn.call(this, options);
  };
}

function installWorkers(registry: Registry): void {
  // The CommonJS exports object: what syncBuiltinESMExports() copies into `import { Worker } from 'node:worker_threads'`.
  const workerThreads = createRequire(import.meta.url)('node:worker_threads') as { Worker: typeof Worker };
  const Original = workerThreads.Worker;
  class TrackedWorker extends Original {
    constructor(...args: ConstructorParameters<typeof Original>) {
      super(...args);
      let exited = false;
      this.once('exit', () => (exited = true));
      track(registry, { kind: 'worker thread', what: () => `thread ${this.threadId}: ${String(args[0])}`, alive: () => !exited });
    }
  }
  workerThreads.Worker = TrackedWorker;
  syncBuiltinESMExports();
}

function installTimers(registry: Registry): void {
  const wrap = <F extends (...a: never[]) => NodeJS.Timeout>(original: F, name: string): F =>
    function (this: unknown, ...a: Parameters<F>) {
      const timer = original.apply(this, a);
      const origin = originHere();
      if (!inRepo(framesOf(origin)[0])) return timer;
      const delay = (a as unknown[])[1];
      const entry = track(
        registry,
        {
          kind: 'timer',
          what: () => `${name} ${typeof delay === 'number' ? delay : 0} ms${timer.hasRef() ? '' : ' (unref)'}`,
          alive: () => !(timer as NodeJS.Timeout & { _destroyed?: boolean })._destroyed,
        },
        origin,
      );
      registry.timers.set(timer, entry);
      if (registry.timers.size > 5_000) sweepTimers(registry);
      return timer;
    } as F;
  globalThis.setTimeout = wrap<typeof setTimeout>(globalThis.setTimeout, 'setTimeout');
  globalThis.setInterval = wrap<typeof setInterval>(globalThis.setInterval, 'setInterval');
}

/** Forgets timers that fired or were cleared (a long test makes many). */
function sweepTimers(registry: Registry): void {
  for (const [timer, entry] of registry.timers) {
    if (entry.alive()) continue;
    registry.timers.delete(timer);
    registry.tracked.delete(entry);
  }
}

/** Installs the hooks once per process; later calls return the same registry. */
export function installLeakCheck(): Registry {
  const existing = globals[registryKey];
  if (existing) return existing;
  const registry: Registry = { tracked: new Set(), timers: new Map(), currentTest: undefined };
  globals[registryKey] = registry;
  installPg(registry);
  installServers(registry);
  installChildProcesses(registry);
  installWorkers(registry);
  installTimers(registry);
  return registry;
}

/** Forgets everything tracked so far (a new test file starts). */
export function resetLeakCheck(registry: Registry): void {
  registry.tracked.clear();
  registry.timers.clear();
  registry.currentTest = undefined;
}

/** Everything tracked that is still open. */
export function leaksOf(registry: Registry): Leak[] {
  sweepTimers(registry);
  const leaks: Leak[] = [];
  for (const entry of registry.tracked) {
    if (!entry.alive()) continue;
    const frames = framesOf(entry.origin);
    leaks.push({ kind: entry.kind, what: entry.what(), openedIn: entry.openedIn, at: frames.find(inRepo)?.slice(root.length) });
  }
  return leaks;
}

/** One line per leak, naming the resource, the test that opened it and where. */
export function formatLeaks(file: string, leaks: readonly Leak[]): string {
  const lines = leaks.map(
    (leak) =>
      `  - ${leak.kind} (${leak.what}) opened ${leak.openedIn ? `in test "${leak.openedIn}"` : 'in a beforeAll/afterAll hook, a file fixture or at the top level'}${leak.at ? ` at ${leak.at}` : ''}`,
  );
  return [
    `Leak check: ${file} left ${leaks.length} resource(s) open after its last test, hooks and fixtures (close each where it was opened, or in afterEach/afterAll):`,
    ...lines,
  ].join('\n');
}
