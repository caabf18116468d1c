import { once } from 'node:events';
import { createServer, IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import express from 'express';
import Fastify from 'fastify';
import { sql } from 'kysely';
import { describe, expect } from 'vitest';
import { createPulse, type Pulse } from '../../src/create-pulse.js';
import type { NewErrorGroup } from '../../src/writer/error-steps.js';
import { adapterNames, startApp } from '../support/four-apps.js';
import { closeServer, listen, send } from '../support/http.js';
import { test } from '../support/migrated-database.js';

const pulseFor = (url: string, nodeId: string, options: Parameters<typeof createPulse>[0] = {}) =>
  createPulse({ connectionString: url, nodeId, maintenanceIntervalMs: 0, ...options });

/** Every group of pgpulse.errors beside the same figures computed from the raw rows. */
async function errorsAgainstRawRows(pulse: Pulse) {
  const view = await sql<Record<string, unknown>>`
    select fingerprint, class, count::int as count, first_seen, last_seen, routes, last_request_id from pgpulse.errors order by fingerprint`.execute(pulse.db);
  const raw = await sql<Record<string, unknown>>`
    select error_fingerprint as fingerprint, error->>'class' as class, count(*)::int as count, min(inserted_at) as first_seen, max(inserted_at) as last_seen,
           array_agg(distinct coalesce(route, '') order by coalesce(route, '')) as routes,
           (array_agg(request_id order by inserted_at desc, id desc))[1] as last_request_id
    from pgpulse.request_logs where error_fingerprint is not null group by 1, 2 order by 1`.execute(pulse.db);
  return { view: view.rows.map((r) => ({ ...r, routes: [...(r.routes as string[])].sort() })), raw: raw.rows };
}

describe('errors: captured in every adapter and grouped in pgpulse.errors', () => {
  test('every framework stores the exception behind a 5xx; pgpulse.errors agrees with exact SQL over the raw rows', async ({ database }) => {
    const pulses: Pulse[] = [];
    const created: NewErrorGroup[] = [];
    try {
      for (const name of adapterNames) {
        const pulse = pulseFor(database.url, name);
        pulse.on('errorGroupNew', (group) => created.push(group));
        pulses.push(pulse);
        const app = await startApp(name, pulse);
        try {
          for (let i = 0; i < 3; i++) expect((await send(`${app.base}/boom`, { headers: { 'x-request-id': `${name}-boom-${i}` } })).status).toBe(500);
          expect((await send(`${app.base}/users/1`)).status).toBe(200);
          expect((await send(`${app.base}/nope`)).status).toBe(404);
        } finally {
          await app.close();
        }
        await pulse.flush();
      }
      const { view, raw } = await errorsAgainstRawRows(pulses[0]!);
      expect(raw.reduce((n, r) => n + (r.count as number), 0)).toBe(adapterNames.length * 3);
      expect(view).toEqual(raw);
      // One event per group, from the node that stored it first.
      expect(created.map((g) => g.fingerprint).sort()).toEqual(raw.map((r) => r.fingerprint));
      expect(pulses.reduce((n, p) => n + p.stats.writer!.errorGroupsNew, 0)).toBe(view.length);
      const rows = await pulses[0]!.db.selectFrom('pgpulse.request_logs').select(['status_code', 'error']).where('error', 'is not', null).execute();
      expect(rows.every((r) => r.status_code === 500 && r.error!.message === 'boom')).toBe(true);
    } finally {
      for (const pulse of pulses) await pulse.close();
    }
  });

  test('a group is new once across nodes: a second node storing the same fingerprint emits nothing', async ({ database }) => {
    const a = pulseFor(database.url, 'node-a');
    const b = pulseFor(database.url, 'node-b');
    const seen: string[] = [];
    a.on('errorGroupNew', (g) => seen.push(`a:${g.fingerprint}`));
    b.on('errorGroupNew', (g) => seen.push(`b:${g.fingerprint}`));
    const handler = (pulse: Pulse) =>
      pulse.wrap((req, res) => {
        if (req.url === '/fail') throw new RangeError('shared failure');
        res.end('ok');
      });
    const servers = [createServer(handler(a)), createServer(handler(b))];
    try {
      const [baseA, baseB] = [await listen(servers[0]!), await listen(servers[1]!)];
      const firstGroup = once(a, 'errorGroupNew');
      await send(`${baseA}/fail`);
      const [group] = (await firstGroup) as [NewErrorGroup];
      expect(group).toMatchObject({ class: 'RangeError', message: 'shared failure', route: '' });
      for (let i = 0; i < 3; i++) await send(`${baseB}/fail`);
      await b.flush();
      await a.flush();
      expect(seen).toEqual([`a:${group.fingerprint}`]);
      const [row] = (await sql<{ count: number }>`select count::int from pgpulse.errors where fingerprint = ${group.fingerprint}`.execute(a.db)).rows;
      expect(row?.count).toBe(4);
      const metrics = await a.metrics();
      expect(metrics).toMatch(/^pgpulse_error_groups_new_total 1$/m);
    } finally {
      for (const server of servers) await closeServer(server);
      await a.close();
      await b.close();
    }
  });

  test('wrap: a throwing or rejecting handler is answered 500, its error stored and emitted as handlerError', async ({ database }) => {
    const pulse = pulseFor(database.url, 'wrap');
    const failures: Error[] = [];
    pulse.on('handlerError', ({ error }) => failures.push(error));
    const server = createServer(
      pulse.wrap(async (req, res) => {
        if (req.url === '/sync') throw new TypeError('sync failure');
        if (req.url === '/late') {
          res.writeHead(200);
          res.write('partial');
          throw new Error('after headers');
        }
        await Promise.resolve();
        if (req.url === '/async') throw new Error('async failure');
        res.end('ok');
      }),
    );
    try {
      const base = await listen(server);
      expect(await send(`${base}/sync`, { headers: { 'x-request-id': 'sync' } })).toMatchObject({ status: 500, body: 'Internal Server Error' });
      expect(await send(`${base}/async`, { headers: { 'x-request-id': 'async' } })).toMatchObject({ status: 500 });
      expect(await send(`${base}/late`, { headers: { 'x-request-id': 'late' } })).toMatchObject({ status: 200, body: 'partial' });
      expect(await send(`${base}/ok`)).toMatchObject({ status: 200, body: 'ok' });
      await pulse.flush();
      const rows = await pulse.db.selectFrom('pgpulse.request_logs').select(['request_id', 'status_code', 'error']).orderBy('id').execute();
      const byId = Object.fromEntries(rows.map((r) => [r.request_id, r]));
      expect(byId.sync).toMatchObject({ status_code: 500, error: { class: 'TypeError', message: 'sync failure' } });
      expect(byId.async).toMatchObject({ status_code: 500, error: { class: 'Error', message: 'async failure' } });
      // The response was already a 200 when the handler threw: not a 5xx, not stored.
      expect(byId.late).toMatchObject({ status_code: 200, error: null });
      expect(failures.map((e) => e.message).sort()).toEqual(['after headers', 'async failure', 'sync failure']);
    } finally {
      await closeServer(server);
      await pulse.close();
    }
  });

  test('4xx errors of framework hooks are not kept; reported ones are; late and untracked reports are counted', async ({ database }) => {
    const pulse = pulseFor(database.url, 'reported');
    const app = express();
    app.use(pulse.middleware());
    app.get('/missing', (req, res) => {
      pulse.captureError(new Error('order 7 missing'), req);
      res.status(404).send('no');
    });
    app.get('/bad', () => {
      throw Object.assign(new Error('bad input'), { status: 400 });
    });
    app.get('/after', (req, res) => {
      res.send('ok');
      res.once('close', () => setImmediate(() => setImmediate(() => pulse.captureError(new Error('too late'), req))));
    });
    app.use(pulse.errorMiddleware());
    const server = createServer(app);
    const fastify = Fastify({ requestIdHeader: 'x-request-id' });
    try {
      const base = await listen(server);
      expect((await send(`${base}/missing`, { headers: { 'x-request-id': 'missing' } })).status).toBe(404);
      expect((await send(`${base}/bad`, { headers: { 'x-request-id': 'bad' } })).status).toBe(400);
      const dropped = once(pulse, 'errorDropped');
      await send(`${base}/after`);
      await dropped;
      pulse.captureError(new Error('nowhere'), new IncomingMessage(new Socket()));
      await pulse.flush();
      const rows = await pulse.db.selectFrom('pgpulse.request_logs').select(['request_id', 'error']).execute();
      const byId = Object.fromEntries(rows.map((r) => [r.request_id, r.error]));
      expect(byId.missing).toMatchObject({ message: 'order 7 missing' });
      expect(byId.bad).toBeNull();
      expect(pulse.stats.errorsDropped).toBe(2);

      // Fastify: a failed schema validation (400) runs onError too, and is not kept.
      const { pgpulseFastify } = await import('../../src/adapters/fastify.js');
      await fastify.register(pgpulseFastify(pulse, { onClose: false }));
      fastify.post('/v', { schema: { body: { type: 'object', required: ['a'] } } }, async () => 'ok');
      const fastifyBase = await fastify.listen({ port: 0, host: '127.0.0.1' });
      const response = await fetch(`${fastifyBase}/v`, {
        method: 'POST',
        body: '{}',
        headers: { 'content-type': 'application/json', 'x-request-id': 'fastify-400' },
      });
      expect(response.status).toBe(400);
      await response.arrayBuffer();
      await pulse.flush();
      const [row] = await pulse.db.selectFrom('pgpulse.request_logs').select(['error']).where('request_id', '=', 'fastify-400').execute();
      expect(row).toEqual({ error: null });
    } finally {
      await fastify.close();
      await closeServer(server);
      await pulse.close();
    }
  });

  test('a throwing redactErrorMessage stores the censor as the message (never the message), counted as a failed redaction; captureErrors: false stores none', async ({
    database,
  }) => {
    const pulse = pulseFor(database.url, 'redact', {
      redactErrorMessage: (message) => {
        if (message.includes('poison')) throw new Error('redactor broke');
        return message.replace(/\d+/g, '#');
      },
    });
    const off = pulseFor(database.url, 'off', { captureErrors: false });
    const handler = (p: Pulse) =>
      p.wrap((req) => {
        throw new Error(req.url === '/poison' ? 'poison 1' : 'card 4242 declined');
      });
    const servers = [createServer(handler(pulse)), createServer(handler(off))];
    try {
      const base = await listen(servers[0]!);
      const offBase = await listen(servers[1]!);
      const failed = once(pulse, 'redactionFailed');
      await send(`${base}/poison`, { headers: { 'x-request-id': 'poison' } });
      await send(`${base}/card`, { headers: { 'x-request-id': 'card' } });
      await send(`${offBase}/card`, { headers: { 'x-request-id': 'off' } });
      const [info] = (await failed) as [{ reason: string; detail: string; error?: Error }];
      expect(info).toMatchObject({ reason: 'threw', detail: 'redactErrorMessage threw: redactor broke' });
      await pulse.flush();
      await off.flush();
      const rows = await pulse.db.selectFrom('pgpulse.request_logs').select(['request_id', 'status_code', 'error']).execute();
      const byId = Object.fromEntries(rows.map((r) => [r.request_id, r]));
      // The class and frames still group it; the message it was given is nowhere.
      expect(byId.poison).toMatchObject({
        status_code: 500,
        error: { class: 'Error', message: '[redacted]', frames: expect.arrayContaining([expect.any(String)]) },
      });
      expect(JSON.stringify(byId.poison)).not.toContain('poison 1');
      expect(byId.card).toMatchObject({ status_code: 500, error: { message: 'card # declined' } });
      expect(byId.off).toMatchObject({ status_code: 500, error: null });
      expect(pulse.stats.redactionsFailed).toEqual({ threw: 1, invalid: 0 });
      expect(pulse.stats.errorsDropped).toBe(0);
    } finally {
      for (const server of servers) await closeServer(server);
      await pulse.close();
      await off.close();
    }
  });

  test('retention drops error counts and groups older than retentionDays, keeping recent ones', async ({ database }) => {
    const pulse = pulseFor(database.url, 'retention', { retentionDays: 7 });
    try {
      await pulse.migrate();
      const now = Date.now();
      const row = (id: string, at: number, message: string) => ({
        request_id: id,
        method: 'GET',
        path: '/x',
        route: '/x',
        status_code: 500,
        duration_ms: 1,
        node_id: 'retention',
        inserted_at: new Date(at),
        error_fingerprint: message === 'old' ? '00000000000000aa' : '00000000000000bb',
        error: { class: 'Error', message, frames: [] },
      });
      pulse.pubsub.broadcast(row('old-1', now - 20 * 86_400_000, 'old'));
      pulse.pubsub.broadcast(row('new-1', now - 20 * 86_400_000, 'new'));
      pulse.pubsub.broadcast(row('new-2', now - 60_000, 'new'));
      await pulse.flush();
      const ours = sql`fingerprint in ('00000000000000aa', '00000000000000bb')`;
      expect((await sql`select 1 from pgpulse.error_groups where ${ours}`.execute(pulse.db)).rows).toHaveLength(2);
      await pulse.maintain();
      const groups = await sql<{ fingerprint: string; count: number }>`select fingerprint, count::int from pgpulse.errors where ${ours}`.execute(pulse.db);
      expect(groups.rows).toEqual([{ fingerprint: '00000000000000bb', count: 1 }]);
    } finally {
      await pulse.close();
    }
  });
});
