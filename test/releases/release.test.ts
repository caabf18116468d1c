import { describe, expect, it } from 'vitest';
import { createPulse } from '../../src/create-pulse.js';
import { listReleases, releaseEnvVars, resolveRelease } from '../../src/releases/release.js';
import { makeLog } from '../support/fixtures.js';
import { test } from '../support/migrated-database.js';

describe('release', () => {
  it('defaults to the first release environment variable set', () => {
    expect(resolveRelease(undefined, {})).toBeNull();
    expect(resolveRelease(undefined, { GITHUB_SHA: 'g', SOURCE_VERSION: 's' })).toBe('s');
    expect(resolveRelease(undefined, { PGPULSE_RELEASE: ' v1.2 ', GIT_SHA: 'abc' })).toBe('v1.2');
    expect(resolveRelease(undefined, { GIT_SHA: '', RENDER_GIT_COMMIT: 'r' })).toBe('r');
    expect(resolveRelease('v2', { GIT_SHA: 'abc' })).toBe('v2');
    expect(resolveRelease(false, { GIT_SHA: 'abc' })).toBeNull();
    expect(() => resolveRelease('x'.repeat(201))).toThrow('pgpulse: release must be 1–200 characters or false');
    expect(releaseEnvVars[0]).toBe('PGPULSE_RELEASE');
  });

  test('records when each node first ran a release, and alerts name the current one', async ({ database }) => {
    const open = (nodeId: string, release: string) =>
      createPulse({
        connectionString: database.url,
        nodeId,
        release,
        cubeIntervalMs: 0,
        maxWaitMs: 5,
        alerts: [{ kind: 'errorRate', name: 'e', threshold: 0.1, minRequests: 1 }],
        alertIntervalMs: 3_600_000,
      });
    const a1 = open('a', 'v1');
    await a1.migrate();
    const b1 = open('b', 'v1');
    await b1.migrate();
    await Promise.all([a1.close(), b1.close()]);
    const before = await listReleases(database.db);
    expect(before).toMatchObject([{ release: 'v1', nodes: 2 }]);
    const a2 = open('a', 'v2');
    await a2.migrate();
    const again = open('a', 'v1'); // a restart of an old node does not make v1 current again
    await again.migrate();
    await again.close();
    const releases = await listReleases(database.db);
    expect(releases.map((r) => [r.release, r.nodes])).toEqual([
      ['v1', 2],
      ['v2', 1],
    ]);
    expect(releases[0]!.deployedAt).toBe(before[0]!.deployedAt);
    expect(await listReleases(database.db, { from: new Date(releases[1]!.deployedAt) })).toMatchObject([{ release: 'v2' }]);
    const fired = new Promise((resolve) => a2.once('alert', resolve));
    a2.pubsub.publish(makeLog({ status_code: 500 }));
    await a2.flush();
    await a2.alerts!.evaluate();
    expect(await fired).toMatchObject({ state: 'firing', release: 'v2' });
    await a2.close();
  });
});
