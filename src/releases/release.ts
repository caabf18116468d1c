import { sql, type Kysely } from 'kysely';
import { z } from 'zod';
import type { PulseDatabase } from '../schema/database.js';
import { parseOption } from '../shared/option-schema.js';

/**
 * Environment variables the `release` option defaults to, first set wins:
 * pgpulse's own, then the usual CI and platform ones (Heroku, Render, Vercel,
 * Railway, Fly.io, Netlify, Cloudflare Pages, Cloud Run, GitHub Actions).
 */
export const releaseEnvVars = [
  'PGPULSE_RELEASE',
  'RELEASE',
  'GIT_SHA',
  'GIT_COMMIT',
  'SOURCE_VERSION',
  'HEROKU_SLUG_COMMIT',
  'RENDER_GIT_COMMIT',
  'VERCEL_GIT_COMMIT_SHA',
  'RAILWAY_GIT_COMMIT_SHA',
  'FLY_IMAGE_REF',
  'COMMIT_REF',
  'CF_PAGES_COMMIT_SHA',
  'K_REVISION',
  'GITHUB_SHA',
] as const;

/** Release options of `createPulse()`. */
export interface ReleaseOptions {
  /**
   * The release (version, git sha, image tag) this process runs, recorded in
   * `pgpulse.releases` with the time this node first ran it; the dashboard
   * marks releases on its charts and alerts name the release current when
   * they fired. At most 200 characters. Default: the first of
   * {@link releaseEnvVars} that is set; `false` records none.
   */
  release?: string | false;
}

const releaseSchema = z.string({ error: 'must be 1–200 characters or false' }).trim().min(1).max(200);

/** The release of this process: the option, else the first release environment variable set; null for none. */
export function resolveRelease(option: string | false | undefined, env: NodeJS.ProcessEnv = process.env): string | null {
  if (option === false) return null;
  if (option !== undefined) return parseOption('pgpulse', 'release', releaseSchema, option, TypeError);
  for (const name of releaseEnvVars) {
    const parsed = releaseSchema.safeParse(env[name]);
    if (parsed.success) return parsed.data;
  }
  return null;
}

/** Records that `nodeId` runs `release` (the first time only: a restart keeps the original time). */
export async function recordRelease(db: Kysely<PulseDatabase>, release: string, nodeId: string): Promise<void> {
  await sql`insert into pgpulse.releases (release, node_id) values (${release}, ${nodeId}) on conflict do nothing`.execute(db);
}

/** A release as the dashboard and `/api/releases` show it. */
export interface ReleaseInfo {
  release: string;
  /** When the first node ran it (ISO 8601). */
  deployedAt: string;
  /** When the last node that ran it started it. */
  lastNodeAt: string;
  nodes: number;
}

/** Releases first run in [from, to) (all when omitted), oldest first; at most `limit`, the newest ones. */
export async function listReleases(db: Kysely<PulseDatabase>, range: { from?: Date; to?: Date; limit?: number } = {}): Promise<ReleaseInfo[]> {
  const result = await sql<{ release: string; deployed_at: Date; last_node_at: Date; nodes: number }>`
    select * from (
      select release, min(first_seen) as deployed_at, max(first_seen) as last_node_at, count(*)::int as nodes
      from pgpulse.releases group by release
      having (${range.from ?? null}::timestamptz is null or min(first_seen) >= ${range.from ?? null})
         and (${range.to ?? null}::timestamptz is null or min(first_seen) < ${range.to ?? null})
      order by deployed_at desc limit ${range.limit ?? 100}
    ) r order by deployed_at`.execute(db);
  return result.rows.map((r) => ({ release: r.release, deployedAt: r.deployed_at.toISOString(), lastNodeAt: r.last_node_at.toISOString(), nodes: r.nodes }));
}
