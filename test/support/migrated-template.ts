import { randomBytes } from 'node:crypto';
import { adminQuery, migrateDatabase, withDatabase } from './database.js';

/**
 * The run's migrated template: one database migrated once by the global
 * setup, which each test file's migrated database is copied from
 * (`create database … template …`, about half the time of migrating a fresh
 * one). Nothing connects to it after setup: Postgres copies a template only
 * while no session is using it.
 */
export async function createMigratedTemplate(adminUrl: string): Promise<{ name: string; drop(): Promise<void> }> {
  const name = `pgpulse_template_${randomBytes(6).toString('hex')}`;
  await adminQuery(adminUrl, `create database ${name}`);
  await migrateDatabase(withDatabase(adminUrl, name));
  return {
    name,
    async drop() {
      await adminQuery(adminUrl, `drop database if exists ${name} with (force)`);
    },
  };
}
