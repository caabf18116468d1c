// @module-tag server (runs on every CI server: see the tag in vitest.config.ts)
import { execFileSync, spawn } from 'node:child_process';
import { copyFile, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { expect, test } from 'vitest';
import { createPulse } from '../../src/create-pulse.js';
import { createListener } from '../../src/listen/index.js';
import { PubSub } from '../../src/pubsub.js';
import { connect } from '../../src/store/connection.js';
import { migrate } from '../../src/store/migrate.js';
import { createTestDatabase } from '../support/database.js';
import { eventually, makeLog } from '../support/fixtures.js';

/** The previous release: main before this stage (migrations 0001–0010). */
const PREVIOUS_RELEASE = '7d7f4c8';
const repo = fileURLToPath(new URL('../../', import.meta.url));

/** That release's source tree in a temporary directory (git archive), with this checkout's node_modules. */
async function previousRelease(): Promise<string | undefined> {
  const dir = await mkdtemp(join(tmpdir(), 'pgpulse-previous-'));
  try {
    execFileSync('sh', ['-c', `git archive ${PREVIOUS_RELEASE} | tar -x -C '${dir}'`], { cwd: repo, stdio: 'pipe' });
  } catch (error) {
    await rm(dir, { recursive: true });
    console.warn(`upgrade test skipped: commit ${PREVIOUS_RELEASE} is not in this checkout (${(error as Error).message.split('\n')[0]})`);
    return undefined;
  }
  await symlink(join(repo, 'node_modules'), join(dir, 'node_modules'));
  await copyFile(fileURLToPath(new URL('../fixtures/releases/previous-node.ts', import.meta.url)), join(dir, 'previous-node.ts'));
  return dir;
}

test('upgrade from the previous release under ~1,000 rows/s and a 15 s reader: no pgpulse backend waits on a lock > 1 s, nothing is lost, old and new listeners deliver every row once', async () => {
  const tree = await previousRelease();
  if (!tree) return;
  const database = await createTestDatabase();
  const admin = new pg.Client({ connectionString: database.url });
  await admin.connect();
  const connection = connect({ connectionString: database.url, poolSize: 2 }, () => {});
  const child = spawn(process.execPath, ['--import', 'tsx', 'previous-node.ts'], { cwd: tree, env: { ...process.env, UPGRADE_DATABASE_URL: database.url } });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const lines: string[] = [];
  const waiters: ((line: string) => void)[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    lines.push(line);
    for (const w of waiters.splice(0)) w(line);
  });
  const nextLine = async (prefix: string): Promise<string> => {
    for (;;) {
      const found = lines.findIndex((l) => l.startsWith(prefix));
      if (found >= 0) return lines.splice(found, 1)[0]!.slice(prefix.length);
      await new Promise<string>((resolve, reject) => {
        waiters.push(resolve);
        child.once('exit', () => reject(new Error(`previous-release node exited: ${stderr}`)));
      });
    }
  };
  const send = (line: string) => child.stdin.write(`${line}\n`);
  const newPubsub = new PubSub();
  const newListener = createListener({ connectionString: database.url, pubsub: newPubsub });
  const newDelivered = new Map<number, number>();
  let newPulse: ReturnType<typeof createPulse> | undefined;
  try {
    // The previous release's schema and some history.
    await migrate(connection.db, join(tree, 'migrations'));
    await admin.query(`insert into pgpulse.request_logs (request_id, method, path, route, status_code, duration_ms, device_type, node_id, inserted_at)
      select 'h' || g, 'GET', '/history/' || (g % 40), '/history/:n', 200 + (g % 5) * 100, g % 300, 'desktop', 'history', now() - (g % 600) * interval '1 minute'
      from generate_series(1, 30000) g`);
    await admin.query(`select pgpulse.rebuild_rollups('-infinity', 'infinity')`);

    newPubsub.subscribe((m) => {
      const { id } = m.event as { id: number };
      newDelivered.set(id, (newDelivered.get(id) ?? 0) + 1);
    });
    await newListener.start();
    await nextLine('ready');
    send('write');
    await eventually(
      async () => Number((await admin.query(`select count(*) as n from pgpulse.request_logs where node_id = 'previous'`)).rows[0].n) > 1000,
      20_000,
      'previous node writing',
    );

    // Every ~100 ms: the longest current lock wait of any pgpulse backend.
    let longestWaitMs = 0;
    let sampling = true;
    const sampler = (async () => {
      const probe = new pg.Client({ connectionString: database.url, application_name: 'upgrade-sampler' });
      await probe.connect();
      while (sampling) {
        const r = await probe.query<{ ms: number | null }>(
          `select max(extract(epoch from now() - query_start) * 1000)::float8 as ms from pg_stat_activity
           where datname = current_database() and application_name like 'pgpulse%' and wait_event_type = 'Lock'`,
        );
        longestWaitMs = Math.max(longestWaitMs, r.rows[0]?.ms ?? 0);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      await probe.end();
    })();

    // A report holding the table for 15 s.
    const reader = new pg.Client({ connectionString: database.url, application_name: 'long-report' });
    await reader.connect();
    await reader.query('begin');
    await reader.query('select count(*) from pgpulse.request_logs');
    const readerDone = new Promise((resolve) => setTimeout(resolve, 15_000)).then(async () => {
      await reader.query('commit');
      await reader.end();
    });

    const started = performance.now();
    const result = await migrate(connection.db);
    const migrationMs = performance.now() - started;
    await readerDone;

    // Old and new nodes side by side.
    newPulse = createPulse({ connectionString: database.url, nodeId: 'current', notify: true });
    let newSent = 0;
    for (let tick = 0; tick < 300; tick++) {
      for (let i = 0; i < 10; i++, newSent++) newPulse.pubsub.broadcast(makeLog({ node_id: 'current', path: `/current/${newSent % 50}` }));
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await newPulse.flush();
    send('stop');
    const previousSent = (JSON.parse(await nextLine('stopped ')) as { sent: number }).sent;
    sampling = false;
    await sampler;

    const counts = Object.fromEntries(
      (await admin.query<{ node_id: string; n: string }>(`select node_id, count(*) as n from pgpulse.request_logs group by 1`)).rows.map((r) => [
        r.node_id,
        Number(r.n),
      ]),
    );
    const ids = (await admin.query<{ id: string }>(`select id from pgpulse.request_logs where node_id in ('previous', 'current')`)).rows.map((r) =>
      Number(r.id),
    );
    await eventually(() => ids.every((id) => newDelivered.has(id)), 30_000, 'new listener delivered every row');
    let previousReport!: { delivered: number; duplicates: number; ids: number[] };
    await eventually(
      async () => {
        send('report');
        previousReport = JSON.parse(await nextLine('report ')) as typeof previousReport;
        const seen = new Set(previousReport.ids);
        return ids.every((id) => seen.has(id));
      },
      30_000,
      'previous-release listener delivered every row',
    );
    console.log(
      `upgrade: applied ${result.applied.join(', ')} in ${Math.round(migrationMs)} ms (${result.steps.map((s) => `${s.name} ${s.ms} ms/${s.attempts} tries`).join(', ')}); ` +
        `longest lock wait of a pgpulse backend ${Math.round(longestWaitMs)} ms; previous node sent ${previousSent}, stored ${counts.previous}; ` +
        `current node sent ${newSent}, stored ${counts.current}; listeners delivered ${newDelivered.size} (new) and ${previousReport.delivered} (previous) of ${ids.length}`,
    );
    expect(result.applied).toContain('0030_consumers_errors.sql');
    expect(longestWaitMs).toBeLessThan(1_000);
    expect(counts.previous).toBe(previousSent);
    expect(counts.current).toBe(newSent);
    expect([...newDelivered.values()].every((n) => n === 1)).toBe(true);
    expect(previousReport.duplicates).toBe(0);
    expect(newDelivered.size).toBe(ids.length);
    expect(previousReport.delivered).toBe(ids.length);
  } finally {
    send('exit');
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await new Promise((resolve) => (child.exitCode === null ? child.once('exit', resolve) : resolve(undefined)));
    clearTimeout(killer);
    await newPulse?.close();
    await newListener.close();
    await connection.close();
    await admin.end();
    await database.drop();
    await rm(tree, { recursive: true });
  }
}, 180_000);
