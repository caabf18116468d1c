import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from './embedded-postgres.js';
import { createMigratedTemplate } from './migrated-template.js';
import { ensureFreshBuild } from './fresh-build.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Admin URL of the Postgres server the tests use; each test file creates its own database on it. */
    databaseUrl: string;
    /** Where it came from: env, testcontainers or embedded. */
    databaseSource: string;
    /** A database on that server with every migration applied, which `createMigratedTestDatabase` copies (never connected to). */
    migratedTemplate: string;
  }
}

async function dockerAnswers(): Promise<boolean> {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await Promise.race([getContainerRuntimeClient(), new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 10_000).unref())]);
    return true;
  } catch {
    return false;
  }
}

/**
 * Picks the Postgres server for the whole run: `DATABASE_URL` if set, else a
 * testcontainers Postgres when a Docker runtime answers, else embedded-postgres.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  await ensureFreshBuild();
  const stopServer = await startServer(project);
  try {
    const template = await createMigratedTemplate(project.getProvidedContext().databaseUrl);
    project.provide('migratedTemplate', template.name);
    return async () => {
      await template.drop();
      await stopServer();
    };
  } catch (error) {
    await stopServer();
    throw error;
  }
}

async function startServer(project: TestProject): Promise<() => Promise<void>> {
  if (process.env.DATABASE_URL) {
    project.provide('databaseUrl', process.env.DATABASE_URL);
    project.provide('databaseSource', 'env');
    console.log('[pgpulse tests] Postgres from DATABASE_URL');
    return async () => {};
  }
  if (await dockerAnswers()) {
    const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
    const container = await new PostgreSqlContainer('postgres:17-alpine').start();
    project.provide('databaseUrl', container.getConnectionUri());
    project.provide('databaseSource', 'testcontainers');
    console.log('[pgpulse tests] Postgres from testcontainers');
    return async () => {
      await container.stop();
    };
  }
  const server = await startEmbeddedPostgres();
  project.provide('databaseUrl', server.url);
  project.provide('databaseSource', 'embedded');
  console.log(`[pgpulse tests] embedded Postgres on port ${server.port}`);
  return () => server.dispose();
}
